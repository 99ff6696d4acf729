"""gunicorn settings for `crm_project.wsgi` (used by `make serve`, the systemd unit and the Procfile).

The access log leaves out the query string (`%(U)s`, not `%(r)s`): the OAuth callback's URL carries the
authorization code and state. Behind the TLS proxy, FORWARDED_ALLOW_IPS names the proxy's address so gunicorn
passes its X-Forwarded-* headers on.
"""

import os

wsgi_app = "crm_project.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
max_requests = 1000  # recycle workers now and then; a big import never leaves its memory behind for good
max_requests_jitter = 100
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
