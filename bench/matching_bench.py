"""Matching benchmark: 100,000 CRM contacts against 100,000 QBO customers (prints figures only).

    .venv/bin/python bench/matching_bench.py [--contacts 100000] [--customers 100000] [--seed 7]

Generates people with realistic overlap and mess, keeps the answer key (which person each row is), runs
`match_plan` once and prints its time, the process's peak memory (ru_maxrss, which includes the generated data),
and accuracy against the key: wrong automatic links (the bar is zero), true pairs linked, true pairs queued with the
right contact, true pairs missed. The mess: phones in six formats with extensions, the number only under Mobile,
emails in other case or missing, typos, nicknames, "Last, First" display names, businesses with the person as
Given/Family, households and office lines sharing a phone, recycled numbers (same phone, another person), CRM and
QBO duplicates, married-name changes, inactive customers, jobs under a parent. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quickbooks_integration.services.matching import ContactRow, CustomerRow, match_plan  # noqa: E402

FIRST = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth", "David",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Christopher",
    "Nancy", "Daniel", "Lisa", "Matthew", "Margaret", "Anthony", "Betty", "Mark", "Sandra", "Donald", "Ashley",
    "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Dorothy", "Kevin",
    "Carol", "Brian", "Amanda", "George", "Melissa", "Edward", "Deborah", "Ronald", "Stephanie", "Timothy",
    "Rebecca", "Jason", "Laura", "Jeffrey", "Sharon", "Ryan", "Cynthia", "Jacob", "Kathleen", "Gary", "Amy",
    "Nicholas", "Shirley", "Eric", "Angela", "Stephen", "Helen", "Jonathan", "Anna", "Larry", "Brenda", "Justin",
    "Pamela", "Scott", "Nicole", "Brandon", "Samantha", "Frank", "Katherine", "Benjamin", "Emma", "Gregory",
    "Ruth", "Samuel", "Christine", "Raymond", "Catherine", "Patrick", "Debra", "Alexander", "Rachel", "Jack",
    "Carolyn", "Dennis", "Janet", "Jerry", "Virginia", "Tyler", "Maria", "Aaron", "Heather", "Jose", "Diane",
    "Henry", "Julie", "Adam", "Joyce", "Douglas", "Victoria", "Nathan", "Kelly", "Peter", "Christina", "Zachary",
    "Joan", "Kyle", "Evelyn", "Walter", "Lauren", "Harold", "Judith", "Carl", "Olivia", "Arthur", "Megan",
    "Gerald", "Cheryl", "Roger", "Martha", "Keith", "Andrea", "Jeremy", "Frances", "Terry", "Hannah", "Lawrence",
    "Jacqueline", "Sean", "Ann", "Christian", "Gloria", "Albert", "Jean", "Joe", "Kathryn", "Ethan", "Alice",
    "Austin", "Teresa", "Jesse", "Sara", "Willie", "Janice",
]
NICK = {"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Michael": "Mike", "Katherine": "Kate",
        "James": "Jim", "David": "Dave", "Thomas": "Tom", "Christopher": "Chris", "Richard": "Rick",
        "Joseph": "Joe", "Daniel": "Dan", "Matthew": "Matt", "Jennifer": "Jen", "Margaret": "Peggy"}
LAST_STEMS = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Costa", "Kowalski", "Flynn",
    "Sullivan", "Murphy", "O'Brien", "Kelly", "McCarthy", "Doherty", "Walsh",
]
SYLLABLES = [
    "ab", "an", "ar", "be", "bo", "ca", "da", "de", "el", "en", "er", "fa", "ga", "ha", "in", "ka", "ki", "la",
    "le", "lo", "ma", "mi", "mo", "na", "ne", "ni", "no", "ol", "on", "or", "pa", "ra", "re", "ri", "ro", "sa",
    "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "vi", "wa", "ya", "ze",
]
BUSINESS = ("Concrete", "Properties LLC", "Realty Trust", "Construction Inc.", "Family Trust", "Builders, L.L.C.")
DOMAINS = ("gmail.com", "yahoo.com", "verizon.net", "comcast.net", "icloud.com", "outlook.com")


def last_names(rng: random.Random, n: int) -> list[str]:
    names = list(LAST_STEMS)
    seen = set(names)
    while len(names) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def zipf_choice(rng: random.Random, items: list[str], cum_weights: list[float]) -> str:
    return rng.choices(items, cum_weights=cum_weights)[0]


def typed(e164: str, rng: random.Random) -> str:
    d = e164[-10:]
    style = rng.randrange(8)
    return (
        f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", f"+1 {d[:3]} {d[3:6]} {d[6:]}",
        f"1-{d[:3]}-{d[3:6]}-{d[6:]}", d, f"{d[:3]}-{d[3:6]}-{d[6:]} x{rng.randint(1, 99)}",
        f" {d[:3]}-{d[3:6]}-{d[6:]} ", e164,
    )[style]


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def generate(n_contacts: int, n_customers: int, seed: int):
    """Rows and the answer key: person id per contact and per customer."""
    rng = random.Random(seed)
    lasts = last_names(rng, 6000)
    last_w = list(itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(len(lasts))))
    first_w = list(itertools.accumulate(1 / (i + 1) ** 0.7 for i in range(len(FIRST))))
    used_phones: set[str] = set()

    def new_phone() -> str:
        while True:
            area, exchange = rng.randint(200, 999), rng.randint(200, 999)
            number = f"+1{area}{exchange}{rng.randint(0, 9999):04d}"
            if number not in used_phones:
                used_phones.add(number)
                return number

    people = []
    for pid in range(n_contacts + n_customers):
        first, last = zipf_choice(rng, FIRST, first_w), zipf_choice(rng, lasts, last_w)
        email = f"{first}.{last}{pid}@{rng.choice(DOMAINS)}".lower().replace("'", "")
        people.append({"id": pid, "first": first, "last": last, "phone": new_phone(),
                       "mobile": new_phone() if rng.random() < 0.3 else "", "email": email})

    shared = int(min(n_contacts, n_customers) * 0.6)
    contact_people = people[:n_contacts]
    customer_people = people[:shared] + people[n_contacts : n_contacts + n_customers - shared]
    contacts: list[ContactRow] = []
    contact_person: dict[int, int] = {}

    def add_contact(person: dict, **changes) -> None:
        cid = len(contacts) + 1
        row = {"first_name": person["first"], "last_name": person["last"], "company_name": "",
               "phones": (typed(person["phone"], rng), typed(person["mobile"], rng) if person["mobile"] else ""),
               "email": person["email"] if rng.random() > 0.15 else ""}
        row.update(changes)
        if rng.random() < 0.04:
            row["last_name"] = typo(row["last_name"], rng)
        contacts.append(ContactRow(id=cid, **row))
        contact_person[cid] = person["id"]

    base_contacts = contact_people[: n_contacts - n_contacts // 20]
    for person in base_contacts:
        add_contact(person)
    extra = n_contacts - len(base_contacts)
    for k in range(extra):  # households, office lines, CRM duplicates (about a third each)
        host = rng.choice(base_contacts)
        if k % 3 == 0:  # spouse: own person, same home phone, no email
            spouse = {"id": -1 - k, "first": zipf_choice(rng, FIRST, first_w), "last": host["last"]}
            contacts.append(ContactRow(id=len(contacts) + 1, first_name=spouse["first"], last_name=host["last"],
                                       phones=(typed(host["phone"], rng), ""), email=""))
            contact_person[len(contacts)] = spouse["id"]
        elif k % 3 == 1:  # office staff on the business's main line
            contacts.append(ContactRow(id=len(contacts) + 1, first_name=zipf_choice(rng, FIRST, first_w),
                                       last_name=zipf_choice(rng, lasts, last_w), company_name=f"{host['last']} Co",
                                       phones=(typed(host["phone"], rng), ""), email=""))
            contact_person[len(contacts)] = -10_000_000 - k
        else:  # the same person entered again, maybe by nickname
            contacts.append(ContactRow(id=len(contacts) + 1, first_name=NICK.get(host["first"], host["first"]),
                                       last_name=host["last"], phones=(typed(host["phone"], rng), ""),
                                       email=host["email"].upper() if rng.random() < 0.5 else ""))
            contact_person[len(contacts)] = host["id"]

    customers: list[CustomerRow] = []
    customer_person: dict[str, int] = {}
    recycled_hosts = rng.sample(contact_people[shared:n_contacts], min(500, n_contacts - shared))
    for n, person in enumerate(customer_people):
        kid = str(n + 1)
        first, last, display, company = person["first"], person["last"], "", ""
        roll = rng.random()
        if roll < 0.05:
            first = NICK.get(first, first)
        elif roll < 0.09:
            first = typo(first, rng)
        elif roll < 0.12:
            last = typo(last, rng)
        phone, mobile = typed(person["phone"], rng), typed(person["mobile"], rng) if person["mobile"] else ""
        phones = ("", phone, mobile) if rng.random() < 0.2 else (phone, mobile, "")
        email = person["email"]
        roll = rng.random()
        if roll < 0.1:
            email = email.upper()
        elif roll < 0.25:
            email = ""
        given, family = first, last
        style = rng.random()
        if style < 0.05:
            display, given, family = f"{last}, {first}", "", ""
        elif style < 0.10:
            company = f"{last} {rng.choice(BUSINESS)}"
            display = company
        elif style < 0.12 and n < shared:
            family = zipf_choice(rng, lasts, last_w)  # married-name change
            email = ""
        display = display or f"{first} {last}"
        active = rng.random() > 0.01
        if not active:
            display += " (deleted)"
        customers.append(CustomerRow(id=kid, display_name=display, given_name=given, family_name=family,
                                     company_name=company, phones=phones, email=email, active=active))
        customer_person[kid] = person["id"]
    next_id = len(customers) + 1
    for host in recycled_hosts:  # a new customer with a contact's old number
        stranger = people[rng.randrange(len(people))]
        customers.append(CustomerRow(id=str(next_id), display_name=f"Zed {stranger['last']}x", given_name="Zed",
                                     family_name=stranger["last"] + "x", phones=(typed(host["phone"], rng), "", "")))
        customer_person[str(next_id)] = -20_000_000 - next_id
        next_id += 1
    for n in range(min(500, shared)):  # the same person twice in QBO
        person = customer_people[n * 3]
        customers.append(CustomerRow(id=str(next_id), display_name=f"{person['first']} {person['last']} (2)",
                                     given_name=person["first"], family_name=person["last"],
                                     phones=(typed(person["phone"], rng), "", "")))
        customer_person[str(next_id)] = person["id"]
        next_id += 1
    for n in range(1000):  # jobs under a customer
        parent = customers[n * 7]
        customers.append(CustomerRow(id=str(next_id), display_name=f"Job {n}", phones=parent.phones,
                                     email=parent.email, parent_id=parent.id))
        customer_person[str(next_id)] = customer_person[parent.id]
        next_id += 1
    return contacts, customers, contact_person, customer_person


def accuracy(plan, contact_person, customer_person) -> dict[str, int]:
    contacts_of: dict[int, set[int]] = defaultdict(set)
    for cid, pid in contact_person.items():
        contacts_of[pid].add(cid)
    queued: dict[str, set[int]] = defaultdict(set)
    for candidate in plan.candidates:
        queued[candidate.customer_id].add(candidate.contact_id)
    linked = {link.customer_id: link.contact_id for link in plan.links}
    result = {"wrong_links": 0, "true_pairs": 0, "linked": 0, "queued": 0, "missed": 0, "children": len(plan.children)}
    for link in plan.links:
        if contact_person[link.contact_id] != customer_person[link.customer_id]:
            result["wrong_links"] += 1
    for kid, pid in customer_person.items():
        truth = contacts_of.get(pid)
        if kid in plan.children or not truth:
            continue
        result["true_pairs"] += 1
        if linked.get(kid) in truth:
            result["linked"] += 1
        elif queued[kid] & truth:
            result["queued"] += 1
        else:
            result["missed"] += 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    contacts, customers, contact_person, customer_person = generate(args.contacts, args.customers, args.seed)
    generated = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu_started = time.perf_counter(), time.process_time()
    plan = match_plan(contacts=contacts, customers=customers)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {len(contacts):,} contacts x {len(customers):,} customers (generated in {generated:.1f} s)")
    print(f"match_plan: {elapsed:.1f} s wall, {cpu:.1f} s CPU; "
          f"peak RSS {rss_after:,.0f} MiB (before matching {rss_before:,.0f} MiB)")
    print(f"plan: {len(plan.links):,} links, {len(plan.candidates):,} candidates, "
          f"{len(plan.new_contacts):,} new contacts, {len(plan.unmatched_inactive):,} unmatched inactive, "
          f"{len(plan.children):,} children")
    figures = accuracy(plan, contact_person, customer_person)
    pairs = figures["true_pairs"] or 1
    print(f"accuracy: wrong automatic links {figures['wrong_links']} (bar: 0); of {figures['true_pairs']:,} customers "
          f"with a true contact: linked {figures['linked']:,} ({100 * figures['linked'] / pairs:.1f} %), "
          f"queued with the right contact {figures['queued']:,} ({100 * figures['queued'] / pairs:.1f} %), "
          f"missed {figures['missed']:,} ({100 * figures['missed'] / pairs:.2f} %)")


if __name__ == "__main__":
    main()
