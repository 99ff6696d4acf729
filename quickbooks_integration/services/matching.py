"""Matching CRM contacts to QuickBooks Online customers: pure functions over plain frozen rows.

Owns the decision "which contact is this QBO customer", as a plan: automatic links, review candidates (score and
structured reasons), customers that need a new contact, and jobs that belong to their parent. Must not touch the
ORM, settings or HTTP: the caller (the customers import, the "Create in QuickBooks" pre-check, the duplicate
reports) loads rows, calls `match_plan`, and writes what it returns. Inputs are never modified.

The rules, and why each:

1. **Phone is the primary key, email the secondary** (the plan: the office knows people by the number they call
   from). Phones are normalized with `crm.normalization.phone_to_e164` (US default, extensions dropped by
   phonenumbers), after splitting "617-555-0134 / 617-555-9999" and removing labels such as "(cell)". A number
   that is not a full number is no key: local-only 7-digit numbers ("555-0134", no area code, would join people in
   different towns), impossible NANP numbers ("000-000-0000", "123-456-7890") and placeholders ("555-555-5555").
   Emails are trimmed and lower-cased (`email_normalize`), several in one field are split (QBO allows a comma list
   in PrimaryEmailAddr), Gmail dots and any "+tag" are dropped (the same mailbox), placeholders ("none@none.com")
   are no key. QBO's Fax is ignored (a machine, not a person).
2. **Only a unique, consistent match links automatically**: the customer's phones and emails reach exactly one
   contact, that contact's phones and emails reach exactly this customer, and the names agree (same person by
   nickname, typo, "Last, First", household display name, or the same company). An initial ("J. Smith"), a
   nickname of both a man's and a woman's name ("Chris"), a middle name, Jr. against Sr., a first name alone or
   another company are doubts, not agreements. When neither side has a name, phone *and* email together suffice.
   A wrong link mixes two people's money; a candidate costs the bookkeeper one click, so every doubt is a candidate.
3. **Everything else is a candidate** with a score (0-100, a noisy-OR of the evidence, so adding an exact phone or
   email match never lowers it) and reasons as small dicts (`{"rule": "phone", ...}`): shared phones and emails
   (households, office lines, CRM and QBO duplicates), a phone to one contact and an email to another, names that
   disagree (a recycled number), married-name changes, email only, name only, company vs person. A name-only
   candidate needs names that agree (at most 8 per customer, best first); a phone or email held by more than 25
   rows is a placeholder and pairs nobody by itself (it still counts, weakly, in a pair's score).
4. **Links are never moved**: a customer already linked (in `linked` or by a contact's `quickbooks_customer_id`) is
   left alone; a linked contact may appear in a candidate (a QBO duplicate) but is never linked again.
5. **Jobs and sub-customers** (`Job`/`ParentRef`) belong to their top-level parent's contact: they are reported in
   `children`, kept out of every index (they repeat the parent's phone and email) and never proposed.
6. **A rejected pair is never proposed again**, and a rejection does not unlock an automatic link elsewhere.
7. **Inactive customers** (QBO's " (deleted)" suffix) never link automatically; they may be candidates.
8. **A customer with no plausible contact and no candidate** goes to `new_contacts` (active) or
   `unmatched_inactive` (deactivated: the caller decides whether history needs a contact).

Performance: phones and emails are dict indexes; names are looked up by exact (last name, canonical first name)
keys, with typo neighbours found through a deletion index (the SymSpell idea: two words one edit apart share a
one-deletion variant), and companies by key and by first word with rapidfuzz inside that bucket only. No step
compares all pairs: 100,000 x 100,000 takes about 15 s and 650 MiB here (bench/matching_bench.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from crm.normalization import email_normalize, phone_to_e164

Reason = Mapping[str, Any]

CONTACT_PHONE_FIELDS = ("phone", "mobile_phone")  # ContactRow.phones is positional: (phone, mobile_phone)
CUSTOMER_PHONE_FIELDS = ("PrimaryPhone", "Mobile", "AlternatePhone")  # Fax ignored: a machine, not a person
DELETED_SUFFIX = " (deleted)"  # QBO appends it to the DisplayName of a deactivated customer
SHARED_KEY_CAP = 25  # a phone or email on more rows than this is a placeholder: never pairs by itself
NAME_ONLY_LIMIT = 8  # name-only candidates kept per customer (best scores first)
_EMPTY_LINKS: Mapping[str, int] = MappingProxyType({})


# ---------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A CRM contact as matching sees it. `phones` is positional: (phone, mobile_phone), raw as typed."""

    id: int
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    phones: tuple[str, ...] = ()
    email: str = ""
    quickbooks_customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A QBO customer as matching sees it. `phones` is positional: (PrimaryPhone, Mobile, AlternatePhone)."""

    id: str
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    company_name: str = ""
    phones: tuple[str, ...] = ()
    email: str = ""
    active: bool = True
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """An automatic link: unique, consistent, names agree."""

    contact_id: int
    customer_id: str
    score: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pair for the bookkeeper. `kind` names the main doubt (for the queue's filter); `reasons` say everything."""

    contact_id: int
    customer_id: str
    score: int
    kind: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class MatchPlan:
    links: list[Link] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    new_contacts: list[str] = field(default_factory=list)
    unmatched_inactive: list[str] = field(default_factory=list)
    children: dict[str, str] = field(default_factory=dict)


def customer_row_from_qbo(data: Mapping[str, Any]) -> CustomerRow:
    """A `CustomerRow` from a QBO Customer JSON object (a query row or the `Customer` of a read response).

    Phones from PrimaryPhone, Mobile and AlternatePhone `FreeFormNumber` in that order (Fax is ignored); the email
    from `PrimaryEmailAddr.Address`; `parent_id` from `ParentRef` (jobs and sub-customers, `Job: true`). The
    DisplayName is kept as QBO sends it; the " (deleted)" suffix is stripped when names are compared.
    """
    if "Customer" in data and isinstance(data["Customer"], Mapping):
        data = data["Customer"]

    def text(value: Any) -> str:
        return "" if value is None else str(value).strip()

    def phone(key: str) -> str:
        value = data.get(key)
        return text(value.get("FreeFormNumber")) if isinstance(value, Mapping) else ""

    email = data.get("PrimaryEmailAddr")
    parent = data.get("ParentRef")
    parent_id = text(parent.get("value")) if isinstance(parent, Mapping) else ""
    active = data.get("Active", True)
    if isinstance(active, str):  # some exports carry "false"
        active = active.strip().lower() != "false"
    return CustomerRow(
        id=text(data.get("Id")),
        display_name=text(data.get("DisplayName")),
        given_name=text(data.get("GivenName")),
        family_name=text(data.get("FamilyName")),
        company_name=text(data.get("CompanyName")),
        phones=tuple(phone(key) for key in CUSTOMER_PHONE_FIELDS),
        email=text(email.get("Address")) if isinstance(email, Mapping) else "",
        active=bool(active),
        parent_id=parent_id or None,
    )


# ---------------------------------------------------------------------------------------------------- phones

_NANP = re.compile(r"\+1[2-9]\d{2}[2-9]\d{6}")
_US_FAST = re.compile(
    r"\s*(?:\+?1[\s.\-]*)?\(?([2-9]\d{2})\)?[\s.\-/]*(\d{3})[\s.\-]*(\d{4})"
    r"\s*(?:(?:x|ext\.?|extension|#)\s*\d{1,6})?\s*",
    re.IGNORECASE,
)
_PHONE_SPLIT = re.compile(r"\s*(?:[/;,|]|\bor\b|&)\s*", re.IGNORECASE)
_PHONE_LABEL = re.compile(
    r"\((?:[a-z\s.]*)\)|\b(?:cell|mobile|mob|home|work|office|main|tel|phone|ph|direct|business|day|eve|evening)\b"
    r"\.?:?|^[chmwo]\s*[:.]\s*",
    re.IGNORECASE,
)


def _phone_one(raw: str) -> str | None:
    """E.164 for one number, through `phone_to_e164`; the regex only skips phonenumbers for plain US formats
    (40 µs a parse; a test proves both agree), then full NANP numbers only (see the module's rule 1)."""
    match = _US_FAST.fullmatch(raw)
    if match:
        e164 = "+1" + "".join(match.groups())
    else:
        e164 = phone_to_e164(raw)
        if e164 is None:
            cleaned = _PHONE_LABEL.sub(" ", raw).strip()
            e164 = phone_to_e164(cleaned) if cleaned and cleaned != raw.strip() else None
    if e164 is None:
        return None
    if e164.startswith("+1") and (
        not _NANP.fullmatch(e164) or len(set(e164[2:])) == 1 or e164[2:] in _PLACEHOLDER_NUMBERS
    ):
        return None
    return e164


_PLACEHOLDER_NUMBERS = frozenset({"5555555555", "9876543210", "8005551212", "5551234567"})


def phone_keys(raw: str | None) -> tuple[str, ...]:
    """Every full number in one phone field as E.164 (usually one; none for junk such as "n/a")."""
    if not raw:
        return ()
    text = str(raw).strip()
    if not text:
        return ()
    found = _phone_one(text)
    if found:
        return (found,)
    keys: list[str] = []
    for part in _PHONE_SPLIT.split(text):
        key = _phone_one(part) if part else None
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


# ---------------------------------------------------------------------------------------------------- emails

_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[a-z0-9-]{2,}")
_EMAIL_SPLIT = re.compile(r"[,;\s]+")
_PLACEHOLDER_LOCALS = frozenset(
    {"none", "noemail", "no-email", "no.email", "na", "n/a", "unknown", "test", "noreply", "no-reply", "null", "nomail"}
)
_PLACEHOLDER_DOMAINS = frozenset({"none.com", "noemail.com", "nomail.com"})
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def email_key(raw: str | None) -> str | None:
    """One address as a matching key: normalized, "+tag" dropped, Gmail dots dropped; None for junk."""
    text = email_normalize(raw).strip("<>\"' ")
    if text.startswith("mailto:"):
        text = text[7:]
    if not _EMAIL_SHAPE.fullmatch(text):
        return None
    local, _, domain = text.rpartition("@")
    if local in _PLACEHOLDER_LOCALS or domain in _PLACEHOLDER_DOMAINS:
        return None
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if local else None


def email_keys(raw: str | None) -> tuple[str, ...]:
    """Every address in one email field (QBO accepts a comma list in PrimaryEmailAddr)."""
    if not raw:
        return ()
    keys: list[str] = []
    for part in _EMAIL_SPLIT.split(str(raw)):
        key = email_key(part) if part else None
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


# ---------------------------------------------------------------------------------------------------- names

TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "fr", "sir", "mister", "hon", "madam"})
GENERATIONS = frozenset({"jr", "sr", "ii", "iii", "iv"})
SUFFIXES = GENERATIONS | frozenset({"md", "phd", "dds", "dmd", "esq", "cpa", "rn", "dvm", "jd"})
HOUSEHOLD_WORDS = frozenset({"family", "household", "residence", "the", "home"})
COMPANY_SUFFIXES = frozenset(
    {"llc", "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "lp", "llp", "lllp",
     "pllc", "pc", "plc", "pa", "and"}
)
BUSINESS_WORDS = COMPANY_SUFFIXES - {"and"} | frozenset(
    {"trust", "properties", "property", "realty", "management", "mgmt", "group", "associates", "assoc", "partners",
     "holdings", "enterprises", "services", "service", "construction", "contractors", "contracting", "builders",
     "concrete", "church", "library", "school", "housing", "coop", "cooperative", "association", "condominium",
     "condo", "condos", "hoa", "apartments", "shop", "store", "diner", "restaurant", "bakery", "cakes", "agency",
     "consulting", "supply", "supplies", "sporting", "goods", "center", "centre", "clinic", "hospital",
     "foundation", "club", "society", "friends", "university", "college", "academy",
     "county", "department", "dept", "studio", "salon", "farm", "farms", "garage", "motors", "auto",
     "homes", "investments", "capital", "ventures", "solutions", "systems", "industries", "international",
     "plumbing", "electric", "roofing", "landscaping", "photography", "medical", "sanctuary",
     "hotel", "motel", "cafe", "pizza", "dental", "office", "offices", "llp", "estates", "rentals",
     "development", "masonry", "painting", "cleaning", "insurance", "shul", "temple", "parish"}
)

# canonical first name -> nicknames and spellings that denote the same name. Two first names are compatible when
# their canonical sets meet: Bob~Robert, Bob~Rob; Christopher and Christina both give "Chris" but never meet.
NICKNAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "abigail": ("abby", "abbie", "gail"), "albert": ("al", "bert"), "alexander": ("alex", "al", "xander", "sandy"),
    "alexandra": ("alex", "sandra", "sandy", "lexi"), "alfred": ("al", "fred", "alfie"), "allison": ("ally", "allie"),
    "andrew": ("andy", "drew"), "angela": ("angie",), "ann": ("anne", "annie"), "anthony": ("tony",),
    "antonio": ("tony",), "barbara": ("barb", "barbie", "babs"), "benjamin": ("ben", "benny", "benji"),
    "bradley": ("brad",), "catherine": ("cathy", "cat", "kate", "katie", "cate", "katherine", "kathryn"),
    "charles": ("charlie", "chuck", "chas", "chaz"), "christina": ("chris", "tina", "christy"),
    "christine": ("chris", "tina", "christy"), "christopher": ("chris", "kit", "topher"),
    "cynthia": ("cindy",), "daniel": ("dan", "danny"), "david": ("dave", "davy", "davey"),
    "deborah": ("deb", "debbie", "debby", "debra"), "donald": ("don", "donny"), "dorothy": ("dot", "dottie"),
    "douglas": ("doug",), "edward": ("ed", "eddie", "ted", "ned"), "eleanor": ("ellie", "nora"),
    "elizabeth": ("liz", "beth", "betty", "eliza", "lizzie", "libby", "betsy", "liza", "elisabeth"),
    "ernest": ("ernie",), "eugene": ("gene",), "frances": ("fran", "frannie"), "francis": ("frank", "fran"),
    "franklin": ("frank",), "frederick": ("fred", "freddie"), "gabriel": ("gabe",), "gerald": ("jerry", "gerry"),
    "gregory": ("greg",), "harold": ("hal", "harry"), "henry": ("hank", "harry"), "jacob": ("jake",),
    "jacqueline": ("jackie",), "james": ("jim", "jimmy", "jamie"), "jeffrey": ("jeff", "geoff", "geoffrey"),
    "jennifer": ("jen", "jenny", "jenn"), "jessica": ("jess", "jessie"), "john": ("jack", "johnny", "jon"),
    "jonathan": ("jon", "jonny", "nathan"), "joseph": ("joe", "joey"), "joshua": ("josh",),
    "judith": ("judy",), "katherine": ("kate", "kathy", "katie", "kat", "kathryn", "catherine", "kathleen", "kay"),
    "kenneth": ("ken", "kenny"), "kimberly": ("kim",), "lawrence": ("larry", "laurence"),
    "leonard": ("leo", "len", "lenny"), "louis": ("lou",), "louise": ("lou",),
    "margaret": ("maggie", "meg", "peggy", "marge", "margie", "greta"), "mary": ("molly", "polly", "mae"),
    "matthew": ("matt",), "michael": ("mike", "mikey", "mick", "mickey"), "nathaniel": ("nate", "nathan"),
    "nathan": ("nate",), "nicholas": ("nick", "nicky"), "pamela": ("pam",),
    "patricia": ("pat", "patty", "trish", "tricia"), "patrick": ("pat", "paddy"), "peter": ("pete",),
    "philip": ("phil", "phillip"), "randall": ("randy",), "raymond": ("ray",), "rebecca": ("becky", "becca"),
    "richard": ("rick", "rich", "dick", "ricky", "richie"), "robert": ("bob", "rob", "bobby", "robbie", "bert"),
    "rodney": ("rod",), "ronald": ("ron", "ronnie"), "russell": ("russ",), "samantha": ("sam", "sammie"),
    "samuel": ("sam", "sammy"), "sarah": ("sara", "sally"), "stanley": ("stan",),
    "stephen": ("steve", "steven", "stevie"), "steven": ("steve", "stephen", "stevie"), "stuart": ("stu",),
    "susan": ("sue", "susie", "suzy"), "teresa": ("terri", "theresa", "tess"), "terrence": ("terry",),
    "theodore": ("ted", "teddy", "theo"), "thomas": ("tom", "tommy"), "timothy": ("tim", "timmy"),
    "victor": ("vic",), "victoria": ("vicky", "tori"), "vincent": ("vince", "vinny"), "walter": ("walt", "wally"),
    "wesley": ("wes",), "william": ("bill", "will", "billy", "willy", "liam"), "zachary": ("zach", "zack"),
})
_CANONICAL: dict[str, set[str]] = defaultdict(set)
for _canon, _nicks in NICKNAMES.items():
    for _nick in _nicks:
        _CANONICAL[_nick].add(_canon)


def first_name_forms(first: str) -> frozenset[str]:
    """The canonical names a first-name key may stand for: itself plus the names it is a nickname of."""
    return frozenset({first, *_CANONICAL.get(first, ())})


# Nicknames shared by a man's and a woman's name ("Chris": Christopher or Christina, "Pat": Patrick or Patricia):
# a match through one of them is a doubt (the spouse may be the other), never an agreement. Nicknames of two men's
# names ("Jon": John or Jonathan) stay agreements: same person far more often than father and son.
AMBIGUOUS_NICKNAMES = frozenset({"chris", "christy", "pat", "sam", "alex", "sandy", "fran", "lou", "terry", "jamie"})


_DELETE_CHARS = str.maketrans("", "", "'’`´.")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=100_000)
def _tokens(text: str | None) -> tuple[str, ...]:
    """Accents folded, lower case, apostrophes and periods deleted ("O'Brien" → obrien, "L.L.C." → llc), "&" → and,
    every other punctuation a space. Cached: first and last names repeat across a whole book."""
    if not text:
        return ()
    if not text.isascii():
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return tuple(_NON_ALNUM.sub(" ", text.casefold().replace("&", " and ").translate(_DELETE_CHARS)).split())


@lru_cache(maxsize=100_000)
def name_key(text: str | None) -> str:
    """A person-name field as compared: `_tokens` without titles (Mr., Dr.) and suffixes (Jr., III, MD)."""
    return " ".join(t for t in _tokens(text) if t not in TITLES and t not in SUFFIXES)


@lru_cache(maxsize=100_000)
def company_key(text: str | None) -> str:
    """A company name as compared: "ACME Concrete, L.L.C." and "Acme Concrete LLC" both give "acme concrete"."""
    tokens = list(_tokens(text))
    run = len(tokens)
    while run > 0 and len(tokens[run - 1]) == 1:
        run -= 1
    if len(tokens) - run > 1:  # "L L C" typed with spaces
        tokens[run:] = ["".join(tokens[run:])]
    if tokens and tokens[0] == "the":
        tokens = tokens[1:]
    while len(tokens) > 1 and tokens[-1] in COMPANY_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def _looks_like_business(tokens: tuple[str, ...], raw: str) -> bool:
    return any(t in BUSINESS_WORDS or t.isdigit() for t in tokens) or bool(re.search(r"\w's\s+\w", raw))


_TRAILING_NOISE = re.compile(r"\s*(?:\([^)]*\)|\s\d+|-\s.*)\s*$")

Person = tuple[str, str, str]  # (first key, last key, generation suffix or "")


def _person(first_tokens: Iterable[str], last_tokens: Iterable[str], generation: str) -> Person:
    return (" ".join(first_tokens), " ".join(last_tokens), generation)


@lru_cache(maxsize=100_000)
def persons_from_display(text: str | None) -> tuple[Person, ...]:
    """Person names a free-text name may hold: "Smith, John", "John & Mary Smith", "Mr. and Mrs. Smith",
    "The Smith Family", "John Smith Jr."; () for a business-looking name (legal or trade words, digits, "Bill's").
    A single word gives both readings (first only and last only): the comparison keeps the better one."""
    raw = (text or "").strip()
    if raw.endswith(DELETED_SUFFIX):
        raw = raw[: -len(DELETED_SUFFIX)]
    previous = None
    while previous != raw:  # "John Smith (Boston)", "John Smith 2", "Smith, John - basement"
        previous, raw = raw, _TRAILING_NOISE.sub("", raw)
    tokens = _tokens(raw)
    if not tokens or _looks_like_business(tokens, raw):
        return ()
    generation = next((t for t in tokens if t in GENERATIONS), "")
    if raw.count(",") == 1:
        left, right = (
            [t for t in _tokens(part) if t not in TITLES and t not in SUFFIXES] for part in raw.split(",")
        )
        if left and right and "and" not in left:
            return tuple(_person([first], left, generation) for first in _split_and(right) if first)
    words = [t for t in tokens if t not in TITLES and t not in SUFFIXES and t not in HOUSEHOLD_WORDS]
    if not words:
        return ()
    if "and" in words:  # a household: "John & Mary Smith", "Mr. and Mrs. Smith", "John Smith and Mary Jones"
        groups = _split_groups(words)
        people = [g for g in groups if g]
        tail = people[-1] if people else []
        titles_only = len(people) < len(groups)  # "Mr. and Mrs. Smith": one side was titles
        shared_last = tail[-1:] if len(tail) >= 2 or titles_only else []
        persons: list[Person] = []
        for group in people:
            if len(group) >= 2:
                persons.append(_person(group[:1], group[-1:] if group is not tail else shared_last, generation))
            elif group is tail and titles_only:
                persons.append(_person([], shared_last, generation))
            else:
                persons.append(_person(group, shared_last, generation))
        return tuple(dict.fromkeys(persons))
    if len(words) == 1:
        return (_person([], words, generation), _person(words, [], generation))
    forms = [_person(words[:1], words[-1:], generation)]
    if len(words) >= 3:
        forms.append(_person(words[:1], words[1:], generation))
    return tuple(forms)


def _split_and(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t != "and"][:1] + [t for i, t in enumerate(tokens) if i and tokens[i - 1] == "and"]


def _split_groups(words: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for word in words:
        if word == "and":
            groups.append([])
        else:
            groups[-1].append(word)
    return groups


# ------------------------------------------------------------------------------------------ name comparison

AGREE, PARTIAL, UNKNOWN, CONFLICT = "agree", "partial", "unknown", "conflict"
_RANK = {AGREE: 3, PARTIAL: 2, UNKNOWN: 1, CONFLICT: 0}


def _edit_kind(a: str, b: str) -> tuple[str, int] | None:
    """The single edit between a and b (OSA distance 1) as (kind, position), else None."""
    if abs(len(a) - len(b)) > 1 or OSA.distance(a, b, score_cutoff=1) > 1 or a == b:
        return None
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) != len(b):
        return "indel", i
    if i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i]:
        return "transpose", i
    return "substitute", i


@lru_cache(maxsize=200_000)
def first_relation(a: str, b: str) -> str | None:
    """How two first-name keys relate: same, nickname, nickname_ambiguous, initial, typo, middle, or None.

    Typos are conservative because first names come in near pairs that are different people: a transposition
    anywhere ("Jonh"), a letter dropped or added inside the name but not at its end ("Paul"/"Paula",
    "Eric"/"Erica"), a substitution only in names of 5+ letters and not the last letter ("John"/"Joan",
    "Diane"/"Diana" are different people)."""
    if not a or not b:
        return None
    if a == b:
        return "same"
    a0, b0 = a.split()[0], b.split()[0]
    if a0 == b0:
        return "same"
    if first_name_forms(a0) & first_name_forms(b0):
        return "nickname_ambiguous" if a0 in AMBIGUOUS_NICKNAMES or b0 in AMBIGUOUS_NICKNAMES else "nickname"
    if (len(a0) == 1 or len(b0) == 1) and a0[0] == b0[0]:
        return "initial"
    edit = _edit_kind(a0, b0)
    if edit:
        kind, at = edit
        shorter = min(len(a0), len(b0))
        if kind == "transpose" and shorter >= 3:
            return "typo"
        if kind == "indel" and shorter >= 4 and at < shorter:
            return "typo"
        if kind == "substitute" and shorter >= 5 and at < shorter - 1:
            return "typo"
    a_tokens, b_tokens = set(a.split()), set(b.split())
    if len(a_tokens) + len(b_tokens) > 2 and a_tokens & b_tokens:
        return "middle"
    return None


@lru_cache(maxsize=200_000)
def last_relation(a: str, b: str) -> str | None:
    """How two last-name keys relate: same ("O Brien" = "OBrien"), compound ("Pereira Lind" ~ "Pereira"),
    typo (one edit in names of 4+ letters: "Smyth", "Smtih"), or None."""
    if not a or not b:
        return None
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return "same"
    a_tokens, b_tokens = set(a.split()), set(b.split())
    if (len(a_tokens) > 1 or len(b_tokens) > 1) and (a_tokens <= b_tokens or b_tokens <= a_tokens):
        return "compound"
    if min(len(a), len(b)) >= 4 and _edit_kind(a, b):
        return "typo"
    return None


_FIRST_SIM = {"same": 100, "nickname": 95, "typo": 90}  # agreements; initial, middle, ambiguous nickname: doubts
_LAST_PENALTY = {"same": 0, "compound": 5, "typo": 10}


def person_compare(p: Person, q: Person) -> tuple[str, int, str]:
    """(verdict, similarity 0-100, detail) for two parsed person names."""
    fa, la, ga = p
    fb, lb, gb = q
    lr = last_relation(la, lb)
    fr = first_relation(fa, fb)
    if ga and gb and ga != gb and (lr or fr):
        return PARTIAL, 60, "generation_differs"  # John Smith Jr. and John Smith Sr. share a phone and a name
    if la and lb:
        if fa and fb:
            if lr and fr in _FIRST_SIM:
                return AGREE, _FIRST_SIM[fr] - _LAST_PENALTY[lr], f"{fr}_first/{lr}_last"
            if lr and fr:  # "J. Smith", "Chris Smith": could be the spouse
                return PARTIAL, 70, f"first_name_uncertain:{fr}"
            if first_relation(fa, lb) in _FIRST_SIM and last_relation(la, fb):
                return AGREE, 85, "swapped"
            if lr:
                return PARTIAL, 55, "first_name_differs"
            if fr in ("same", "nickname"):
                return PARTIAL, 55, "last_name_differs"
            return CONFLICT, _conflict_similarity(p, q), "names_differ"
        if lr:
            return AGREE, 75, "last_name_only"
        if (fa and first_relation(fa, lb)) or (fb and first_relation(fb, la)):
            return PARTIAL, 60, "first_name_only"
        return CONFLICT, _conflict_similarity(p, q), "names_differ"
    if fr:
        return PARTIAL, 60, "first_name_only"
    if fa and fb:
        if (not la and last_relation(fa, lb)) or (not lb and last_relation(fb, la)):
            return PARTIAL, 55, "single_name_is_the_last_name"
        return CONFLICT, _conflict_similarity(p, q), "names_differ"
    if (la and fb and first_relation(fb, la)) or (lb and fa and first_relation(fa, lb)):
        return PARTIAL, 60, "first_name_only"
    return UNKNOWN, 0, "not_comparable"


def _conflict_similarity(p: Person, q: Person) -> int:
    return min(49, int(fuzz.token_sort_ratio(f"{p[0]} {p[1]}", f"{q[0]} {q[1]}")))


@lru_cache(maxsize=200_000)
def company_compare(a: str, b: str) -> tuple[str, int, str]:
    """(verdict, similarity, detail) for two company keys; agree at token-sort 90+ (typos, word order)."""
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return AGREE, 100, "same_company"
    score = int(fuzz.token_sort_ratio(a, b))
    if score >= 90:
        return AGREE, score, "similar_company"
    if score >= 75 or fuzz.token_set_ratio(a, b) == 100:
        return PARTIAL, score, "related_company"
    return CONFLICT, score, "companies_differ"


@dataclass(frozen=True, slots=True)
class NameProfile:
    persons: tuple[Person, ...]
    companies: tuple[str, ...]


def contact_name_profile(contact: ContactRow) -> NameProfile:
    """Person names and company of a contact; a full name typed into one field is parsed like a display name."""
    return _contact_profile(contact.first_name or "", contact.last_name or "", contact.company_name or "")


@lru_cache(maxsize=100_000)
def _contact_profile(first: str, last: str, company_name: str) -> NameProfile:
    joined = f"{first} {last}".strip()
    persons: tuple[Person, ...]
    if "," in last or re.search(r"&|\band\b", joined, re.IGNORECASE) or (not last and len(_tokens(first)) > 1):
        persons = persons_from_display(f"{last}, {first}" if "," not in last and "," in joined else joined)
        if not persons:
            persons = _plain_person(first, last)
    else:
        persons = _plain_person(first, last)
    company = company_key(company_name)
    return NameProfile(persons, (company,) if company else ())


def _plain_person(first: str, last: str) -> tuple[Person, ...]:
    tokens = _tokens(first) + _tokens(last)
    generation = next((t for t in tokens if t in GENERATIONS), "")
    f, lk = name_key(first), name_key(last)
    if not f and not lk:
        return ()
    if not f and len(lk.split()) > 1:
        return persons_from_display(last) or ((f, lk, generation),)
    return ((f, lk, generation),)


def customer_name_profile(customer: CustomerRow) -> NameProfile:
    """Person names from GivenName/FamilyName and from a person-looking DisplayName; companies from CompanyName
    and from a business-looking DisplayName (the " (deleted)" suffix removed)."""
    return _customer_profile(
        customer.given_name or "", customer.family_name or "", customer.display_name or "", customer.company_name or ""
    )


@lru_cache(maxsize=100_000)
def _customer_profile(given_name: str, family_name: str, display: str, company_name: str) -> NameProfile:
    persons: list[Person] = []
    given, family = name_key(given_name), name_key(family_name)
    if given or family:
        generation = next((t for t in _tokens(f"{given_name} {family_name}") if t in GENERATIONS), "")
        persons.append((given, family, generation))
    if display.endswith(DELETED_SUFFIX):
        display = display[: -len(DELETED_SUFFIX)]
    from_display = persons_from_display(display)
    persons.extend(p for p in from_display if p not in persons)
    companies: list[str] = []
    for text in (company_name, "" if from_display else display):
        key = company_key(text)
        if key and key not in companies:
            companies.append(key)
    return NameProfile(tuple(persons), tuple(companies))


@lru_cache(maxsize=200_000)
def name_verdict(a: NameProfile, b: NameProfile) -> tuple[str, int, str]:
    """(verdict, similarity, detail) for two name profiles: the best person comparison and the best company
    comparison, combined so that any disagreement on the other axis downgrades an agreement to partial."""
    person = max((person_compare(p, q) for p in a.persons for q in b.persons), key=_verdict_order, default=None)
    company = max((company_compare(x, y) for x in a.companies for y in b.companies), key=_verdict_order, default=None)
    if person and person[0] == AGREE:
        if company and company[0] == CONFLICT:
            return PARTIAL, person[1] - 20, "company_differs"
        return person
    if company and company[0] == AGREE:
        if person and person[0] in (CONFLICT, PARTIAL):
            return PARTIAL, 60, "same_company_other_person"
        return company
    if person and person[0] == PARTIAL:
        return person
    if company and company[0] == PARTIAL:
        return company
    if person and person[0] == CONFLICT:
        return person
    if company and company[0] == CONFLICT:
        return company
    a_last = {p[1] for p in a.persons if p[1]}
    b_last = {p[1] for p in b.persons if p[1]}
    if any(last in company.split() for last in a_last for company in b.companies) or any(
        last in company.split() for last in b_last for company in a.companies
    ):
        return PARTIAL, 50, "surname_in_company"
    if (a.persons and b.companies) or (a.companies and b.persons):
        return UNKNOWN, 0, "company_vs_person"
    return UNKNOWN, 0, "no_names"


def _verdict_order(result: tuple[str, int, str]) -> tuple[int, int]:
    return _RANK[result[0]], result[1]


# ---------------------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class _Keys:
    phones: tuple[tuple[str, str], ...]  # (E.164, field name)
    emails: tuple[str, ...]
    all: tuple[str, ...]  # every key once: phones then emails

    @classmethod
    def make(cls, phones: list[tuple[str, str]], emails: tuple[str, ...]) -> _Keys:
        return cls(tuple(phones), emails, (*dict.fromkeys(p for p, _ in phones), *emails))


def _phone_fields(phones: tuple[str, ...] | str | None) -> tuple[str, ...]:
    return (phones,) if isinstance(phones, str) else tuple(phones or ())


def contact_keys(contact: ContactRow) -> _Keys:
    phones: list[tuple[str, str]] = []
    for i, raw in enumerate(_phone_fields(contact.phones)):
        label = CONTACT_PHONE_FIELDS[i] if i < len(CONTACT_PHONE_FIELDS) else f"phones[{i}]"
        phones.extend((key, label) for key in phone_keys(raw) if all(key != p for p, _ in phones))
    return _Keys.make(phones, email_keys(contact.email))


def customer_keys(customer: CustomerRow) -> _Keys:
    phones: list[tuple[str, str]] = []
    for i, raw in enumerate(_phone_fields(customer.phones)):
        label = CUSTOMER_PHONE_FIELDS[i] if i < len(CUSTOMER_PHONE_FIELDS) else f"phones[{i}]"
        phones.extend((key, label) for key in phone_keys(raw) if all(key != p for p, _ in phones))
    return _Keys.make(phones, email_keys(customer.email))


def _key_weight(kind: str, holders: int) -> float:
    """Evidence of one shared key given how many rows on the busier side hold it (1 = unique)."""
    table = (0.80, 0.60, 0.45, 0.30) if kind == "phone" else (0.75, 0.55, 0.40, 0.25)
    return table[0] if holders <= 1 else table[1] if holders == 2 else table[2] if holders <= 5 else table[3]


def _name_weight(verdict: str, similarity: int) -> float:
    if verdict == AGREE:
        return 0.45 + 0.25 * max(0, min(25, similarity - 75)) / 25
    return 0.30 if verdict == PARTIAL else 0.0


@dataclass(frozen=True, slots=True)
class Assessment:
    score: int
    verdict: str
    detail: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    reasons: tuple[Reason, ...]


def pair_assess(
    contact: ContactRow,
    customer: CustomerRow,
    *,
    holders: Mapping[str, int] | None = None,
    _cache: tuple[_Keys, _Keys, NameProfile, NameProfile] | None = None,
) -> Assessment:
    """Score (0-100) and reasons for one pair. `holders` maps a phone or email key to the number of rows holding it
    on the busier side (absent: 1); `match_plan` passes it so shared keys weigh less.

    score = 100 x (1 - Π(1 - w)) over the best phone, the best email and the name, times 0.6 when the names
    conflict: bounded, independent of input order, and never lower when an exact phone or email match is added."""
    ck, kk, cp, kp = _cache or (contact_keys(contact), customer_keys(customer),
                                contact_name_profile(contact), customer_name_profile(customer))
    holders = holders or {}
    reasons: list[Reason] = []
    phones = []
    phone_w = 0.0
    customer_phone_fields = dict(kk.phones) if kk.phones and ck.phones else {}
    for phone, label in ck.phones:
        if phone in customer_phone_fields:
            phones.append(phone)
            count = holders.get(phone, 1)
            phone_w = max(phone_w, _key_weight("phone", count))
            reasons.append({"rule": "phone", "value": phone, "contact_field": label,
                            "customer_field": customer_phone_fields[phone]})
    emails = [e for e in ck.emails if e in kk.emails]
    email_w = max((_key_weight("email", holders.get(e, 1)) for e in emails), default=0.0)
    for e in emails:
        reasons.append({"rule": "email", "value": e})
    verdict, similarity, detail = name_verdict(cp, kp)
    reasons.append({"rule": "name", "verdict": verdict, "similarity": similarity, "detail": detail})
    raw = 1 - (1 - phone_w) * (1 - email_w) * (1 - _name_weight(verdict, similarity))
    factor = 0.6 if verdict == CONFLICT else 1.0
    if not phones and not emails and (ck.phones and kk.phones or ck.emails and kk.emails):
        reasons.append({"rule": "keys_differ"})  # both sides have a phone or email, and none is shared
        factor *= 0.8
    score = max(0, min(100, round(100 * raw * factor)))
    return Assessment(score, verdict, detail, tuple(phones), tuple(emails), tuple(reasons))


# ---------------------------------------------------------------------------------------------------- plan


def _natural(customer_id: str) -> tuple[int, int, str]:
    text = str(customer_id)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def customer_children(customers: Iterable[CustomerRow]) -> dict[str, str]:
    """Job / sub-customer id → its top-level ancestor's id (following ParentRef; a cycle stops at the last new id)."""
    parent = {k.id: k.parent_id for k in customers if k.parent_id}
    children: dict[str, str] = {}
    for child in sorted(parent, key=_natural):
        seen = {child}
        top = parent[child]
        while top in parent and parent[top] not in seen:
            seen.add(top)
            top = parent[top]
        children[child] = top
    return children


class _DeletionIndex:
    """Words one edit apart (insert, delete, substitute, adjacent transpose) share a one-deletion variant."""

    def __init__(self, words: Iterable[str]) -> None:
        self._variants: dict[str, set[str]] = defaultdict(set)
        self._memo: dict[str, set[str]] = {}
        for word in set(words):
            for variant in self._deletions(word):
                self._variants[variant].add(word)

    @staticmethod
    def _deletions(word: str) -> set[str]:
        return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))} if len(word) >= 3 else {word}

    def near(self, word: str) -> set[str]:
        found = self._memo.get(word)
        if found is None:
            found = set()
            for variant in self._deletions(word):
                found |= self._variants.get(variant, set())
            self._memo[word] = found
        return found


class _NameIndex:
    """Rows by name: (last name, canonical first name) and company keys, with one-edit neighbours of first and
    last names (a deletion index) and rapidfuzz among companies sharing a first word."""

    def __init__(self, profiles: Mapping[Any, NameProfile]) -> None:
        self.persons: dict[tuple[str, str], set[Any]] = defaultdict(set)
        self.companies: dict[str, set[Any]] = defaultdict(set)
        self.company_words: dict[str, set[str]] = defaultdict(set)
        firsts: set[str] = set()
        lasts: set[str] = set()
        for row_id, profile in profiles.items():
            for first, last, _ in profile.persons:
                if first and last:
                    first0 = first.split()[0]
                    firsts.add(first0)
                    lasts.add(last)
                    for form in first_name_forms(first0):
                        self.persons[(last, form)].add(row_id)
            for company in profile.companies:
                self.companies[company].add(row_id)
                self.company_words[company.split()[0]].add(company)
        self.first_near = _DeletionIndex(firsts)
        self.last_near = _DeletionIndex(lasts)

    def lookup(self, profile: NameProfile) -> set[Any]:
        """Rows whose name may be this one: last name exact or one edit, first name by nickname or one edit,
        first and last swapped; companies by key, or token-sort 90+ among companies sharing the first word."""
        found: set[Any] = set()
        for first, last, _ in profile.persons:
            if not (first and last):
                continue
            first0 = first.split()[0]
            first_forms = set(first_name_forms(first0))
            for near in self.first_near.near(first0):
                if first_relation(first0, near):
                    first_forms |= first_name_forms(near)
            lasts = {last} | {near for near in self.last_near.near(last) if last_relation(last, near)}
            for lk in lasts:
                for form in first_forms:
                    found |= self.persons.get((lk, form), set())
            for form in first_name_forms(last.split()[0]):  # typed the other way round
                found |= self.persons.get((first, form), set())
        for company in profile.companies:
            found |= self.companies.get(company, set())
            pool = self.company_words.get(company.split()[0], ())
            if pool and not (len(pool) == 1 and company in pool):
                for other, _, _ in process.extract(company, list(pool), scorer=fuzz.token_sort_ratio,
                                                   score_cutoff=90, limit=10):
                    found |= self.companies[other]
        return found


class _Matcher:
    """The machinery of `match_plan`: per-row keys and names, key indexes both ways, a name index of contacts."""

    def __init__(self, contacts: list[ContactRow], customers: list[CustomerRow]) -> None:
        self.contacts = {c.id: c for c in contacts}
        self.customers = {k.id: k for k in customers}
        if len(self.contacts) != len(contacts) or len(self.customers) != len(customers):
            raise ValueError("contact and customer ids must be unique")
        self.children = customer_children(customers)
        self.top = [k for k in customers if k.id not in self.children]
        self.ckeys = {c.id: contact_keys(c) for c in contacts}
        self.kkeys = {k.id: customer_keys(k) for k in self.top}
        self.cnames = {c.id: contact_name_profile(c) for c in contacts}
        self.knames = {k.id: customer_name_profile(k) for k in self.top}
        self.contact_by_key = _key_index(self.ckeys)
        self.customer_by_key = _key_index(self.kkeys)
        self.names = _NameIndex(self.cnames)

    def holders(self, key: str) -> int:
        return max(len(self.contact_by_key.get(key, ())), len(self.customer_by_key.get(key, ())))

    def assess(self, cid: int, kid: str) -> Assessment:
        ck, kk = self.ckeys[cid], self.kkeys[kid]
        customer_keys_ = kk.all
        shared = [key for key in ck.all if key in customer_keys_]
        return pair_assess(
            self.contacts[cid],
            self.customers[kid],
            holders={key: self.holders(key) for key in shared},
            _cache=(ck, kk, self.cnames[cid], self.knames[kid]),
        )

    def _usable(self, key: str) -> bool:
        return (len(self.contact_by_key.get(key, ())) <= SHARED_KEY_CAP
                and len(self.customer_by_key.get(key, ())) <= SHARED_KEY_CAP)

    def key_contacts(self, kid: str) -> set[int]:
        """Contacts reached by the customer's phones and emails (placeholder keys excepted)."""
        found: set[int] = set()
        for key in self.kkeys[kid].all:
            if self._usable(key):
                found |= self.contact_by_key.get(key, set())
        return found

    def key_customers(self, cid: int) -> set[str]:
        found: set[str] = set()
        for key in self.ckeys[cid].all:
            if self._usable(key):
                found |= self.customer_by_key.get(key, set())
        return found


def _key_index(keys: Mapping[Any, _Keys]) -> dict[str, set[Any]]:
    index: dict[str, set[Any]] = defaultdict(set)
    for row_id, row_keys in keys.items():
        for key in row_keys.all:
            index[key].add(row_id)
    return index


def match_plan(
    *,
    contacts: Iterable[ContactRow],
    customers: Iterable[CustomerRow],
    rejected: frozenset[tuple[int, str]] = frozenset(),
    linked: Mapping[str, int] = _EMPTY_LINKS,
) -> MatchPlan:
    """What to do with every QBO customer: link, queue, create a contact for, or leave to its parent.

    `linked` is the existing customer id → contact id links (contacts' `quickbooks_customer_id` count too);
    `rejected` the (contact id, customer id) pairs the bookkeeper rejected. Customers already linked appear nowhere.
    Output lists are sorted (customers by numeric id; candidates grouped by customer, best score first), so a
    shuffled input gives the same plan.
    """
    m = _Matcher(list(contacts), list(customers))
    linked_customers = dict(linked)
    linked_contacts = set(linked.values())
    for c in m.contacts.values():
        if c.quickbooks_customer_id:
            linked_customers.setdefault(c.quickbooks_customer_id, c.id)
            linked_contacts.add(c.id)

    links: list[Link] = []
    candidates: list[Candidate] = []
    new_contacts: list[str] = []
    unmatched_inactive: list[str] = []
    for customer in sorted(m.top, key=lambda k: _natural(k.id)):
        kid = customer.id
        if kid in linked_customers:
            continue
        by_key = m.key_contacts(kid)
        assessed = {cid: m.assess(cid, kid) for cid in by_key if (cid, kid) not in rejected}
        link = _auto_link(m, customer, by_key, assessed, linked_contacts, rejected)
        if link:
            links.append(link)
            continue
        profile = m.knames[kid]
        by_name = []
        for cid in m.names.lookup(profile):
            if cid not in assessed and (cid, kid) not in rejected:
                verdict, similarity, detail = name_verdict(m.cnames[cid], profile)
                if verdict == AGREE or detail.startswith("first_name_uncertain"):
                    by_name.append((-similarity, cid))
        for _, cid in sorted(by_name)[:NAME_ONLY_LIMIT]:
            assessed[cid] = m.assess(cid, kid)
        queued = [
            _candidate(m, cid, customer, assessment, by_key, linked_contacts) for cid, assessment in assessed.items()
        ]
        if queued:
            candidates.extend(sorted(queued, key=lambda c: (-c.score, c.contact_id)))
        elif customer.active:
            new_contacts.append(kid)
        else:
            unmatched_inactive.append(kid)
    return MatchPlan(links, candidates, new_contacts, unmatched_inactive, m.children)


def _auto_link(
    m: _Matcher,
    customer: CustomerRow,
    by_key: set[int],
    assessed: Mapping[int, Assessment],
    linked_contacts: set[int],
    rejected: frozenset[tuple[int, str]],
) -> Link | None:
    """Rule 2: one contact by key, that contact's keys reach only this customer, names agree."""
    if not customer.active or len(by_key) != 1:
        return None
    (cid,) = by_key
    if cid in linked_contacts or (cid, customer.id) in rejected or m.key_customers(cid) != {customer.id}:
        return None
    assessment = assessed[cid]
    if assessment.verdict == AGREE or (
        assessment.verdict == UNKNOWN and assessment.phones and assessment.emails
        and assessment.detail == "no_names"
    ):
        return Link(cid, customer.id, assessment.score, assessment.reasons)
    return None


def _candidate(
    m: _Matcher,
    cid: int,
    customer: CustomerRow,
    assessment: Assessment,
    by_key: set[int],
    linked_contacts: set[int],
) -> Candidate:
    """A candidate with the pair's reasons plus what makes it doubtful, and its `kind` (the first doubt found)."""
    kid = customer.id
    reasons = list(assessment.reasons)
    kinds: list[str] = []
    if not customer.active:
        reasons.append({"rule": "customer_inactive"})
        kinds.append("customer_inactive")
    if cid in linked_contacts:
        reasons.append({"rule": "contact_already_linked"})
        kinds.append("contact_already_linked")
    for key in (*assessment.phones, *assessment.emails):
        n_contacts = len(m.contact_by_key.get(key, ()))
        n_customers = len(m.customer_by_key.get(key, ()))
        if n_contacts > 1 or n_customers > 1:
            rule = "shared_phone" if key.startswith("+") else "shared_email"
            reasons.append({"rule": rule, "value": key, "contacts": n_contacts, "customers": n_customers})
            kinds.append(rule)
    others = sorted(by_key - {cid})
    if others:
        for key in m.kkeys[kid].all:
            holders = sorted(m.contact_by_key.get(key, set()) - {cid})
            if holders and len(holders) <= SHARED_KEY_CAP and key not in (*assessment.phones, *assessment.emails):
                rule = "phone_other_contact" if key.startswith("+") else "email_other_contact"
                reasons.append({"rule": rule, "value": key, "contacts": holders[:5]})
                kinds.append("keys_disagree")
    other_customers = sorted(m.key_customers(cid) - {kid}, key=_natural)
    if other_customers:
        reasons.append({"rule": "contact_matches_other_customers", "customers": other_customers[:5]})
        kinds.append("keys_disagree")
    has_key = bool(assessment.phones or assessment.emails)
    verdict = assessment.verdict
    if not has_key:
        kinds.append("name_only")
    elif verdict == CONFLICT:
        kinds.append("name_conflict")
    elif verdict == PARTIAL:
        kinds.append("name_partial")
    elif assessment.detail == "company_vs_person":
        kinds.append("company_vs_person")
    elif not assessment.phones:
        kinds.append("email_only")
    kinds.append("unconfirmed")
    return Candidate(cid, kid, assessment.score, kinds[0], tuple(reasons))


# ---------------------------------------------------------------------------------------------------- duplicates


def customer_duplicates(customers: Iterable[CustomerRow]) -> list[tuple[str, str, tuple[Reason, ...]]]:
    """Active top-level QBO customers that look like the same person: a shared phone or email, or names that
    agree (nickname, typo, "Last, First", same company). Jobs and inactive customers are left out: jobs repeat
    their parent's phone and email by design, and a deactivated customer is already out of the way."""
    rows = [k for k in customers if k.active]
    children = customer_children(rows)
    top = [k for k in rows if k.id not in children]
    keys = {k.id: customer_keys(k) for k in top}
    names = {k.id: customer_name_profile(k) for k in top}
    return _duplicates(keys, names, order=_natural)


def contact_duplicates(contacts: Iterable[ContactRow]) -> list[tuple[int, int, tuple[Reason, ...]]]:
    """CRM contacts sharing a phone or email (households and office lines too: the name reason tells them apart),
    or whose names agree (nickname, typo, initial, same company). Pairs (lower id, higher id), sorted."""
    rows = list(contacts)
    keys = {c.id: contact_keys(c) for c in rows}
    names = {c.id: contact_name_profile(c) for c in rows}
    return _duplicates(keys, names, order=lambda row_id: row_id)


def _duplicates(keys: Mapping[Any, _Keys], names: Mapping[Any, NameProfile], *, order) -> list:
    """Pairs sharing a key (groups above SHARED_KEY_CAP are placeholders and skipped) or agreeing by name."""
    pairs: dict[tuple[Any, Any], list[Reason]] = defaultdict(list)
    for key, holders in _key_index(keys).items():
        if 1 < len(holders) <= SHARED_KEY_CAP:
            members = sorted(holders, key=order)
            rule = "phone" if key.startswith("+") else "email"
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    pairs[(a, b)].append({"rule": rule, "value": key, "holders": len(members)})
    index = _NameIndex(names)
    for row_id, profile in names.items():
        for other in index.lookup(profile):
            if order(other) > order(row_id):
                pairs.setdefault((row_id, other), [])
    found = []
    for (a, b), reasons in pairs.items():
        verdict, similarity, detail = name_verdict(names[a], names[b])
        if reasons or verdict == AGREE:
            name = {"rule": "name", "verdict": verdict, "similarity": similarity, "detail": detail}
            found.append((a, b, (*reasons, name)))
    return sorted(found, key=lambda item: (order(item[0]), order(item[1])))
