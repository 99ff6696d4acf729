"""The project's URLs plus one view that fails while holding OAuth secrets, as a callback or a refresh could."""

import base64

from django.urls import path

from crm_project.urls import urlpatterns as project_urlpatterns

ACCESS_TOKEN = "eyJ-access-token-VALUE-1111"
REFRESH_TOKEN = "AB11-refresh-token-VALUE-2222"
CLIENT_SECRET = "client-secret-VALUE-3333"
AUTH_CODE = "AB11-auth-code-VALUE-4444"
STATE = "state-VALUE-5555"
BASIC = base64.b64encode(f"client-id:{CLIENT_SECRET}".encode()).decode()


class FakeAuthClient:
    """Stands for intuitlib's AuthClient, whose repr would print what it holds."""

    def __init__(self):
        self.access_token, self.refresh_token = ACCESS_TOKEN, REFRESH_TOKEN

    def __repr__(self):
        return f"AuthClient(access_token={self.access_token}, refresh_token={self.refresh_token})"


def boom(request):
    code = request.GET.get("code")
    state = request.GET["state"]
    client_secret = CLIENT_SECRET
    headers = {"Authorization": f"Basic {BASIC}", "Accept": "application/json"}
    body = f"grant_type=authorization_code&code={code}&redirect_uri=x"
    token_response = {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expires_in": 3600}
    auth_client = FakeAuthClient()
    raise RuntimeError(
        f"exchange failed for {body} ({state}, {client_secret}, {headers}, {token_response}, {auth_client})"
    )


handler500 = "crm_project.errors.server_error"
urlpatterns = [path("boom/", boom), *project_urlpatterns]
