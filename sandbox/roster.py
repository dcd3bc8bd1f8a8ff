"""The roster: organisations, assessments and the sessions their candidates sat.

Who sat which assessment, with which tool, for how long and with which special role (running,
empty, the 100,000-event session, the hostile one, ...) is decided here, once per seed, as a
:class:`SessionSpec` per session. The events themselves are generated later, on demand
(:mod:`sandbox.generate`).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sandbox.generate import SessionSpec, layout
from sandbox.hostile import PAYLOADS
from sandbox.scenarios import load as load_scenario
from sandbox.stamps import DAY_MS, MS_PER_MIN, day_ms, event_prefix, iso, uuid_for
from sandbox.turns import TURN_LEN

ORGS: list[dict[str, str]] = [
    {"id": "org_acme", "slug": "acme", "name": "Acme Corp", "token": "psk_live_sandbox_acme"},
    {"id": "org_globex", "slug": "globex", "name": "Globex", "token": "psk_live_sandbox_globex"},
]
"""The sandbox's organisations and their reviewer API tokens."""

REVOKED_TOKEN = "psk_live_sandbox_revoked"
"""A well-formed org key that the sandbox always rejects with 401, as a revoked key would be."""

BIG_SESSION_EVENTS = 100_000
"""Exact event count of the large session used for pagination and performance work."""

MODELS: dict[str, tuple[str, ...]] = {
    "claude-code": ("claude-sonnet-4-5", "claude-opus-4-1", "claude-sonnet-4-5"),
    "cursor": ("gpt-5", "claude-4.5-sonnet", "cursor-small"),
    "codex": ("gpt-5-codex", "gpt-5-codex", "o4-mini"),
    "shell": ("claude-sonnet-4-5", "gpt-5"),
}
"""The models a session of each source may run (picked once per session)."""


_NAMES = (
    "Amara Okafor",
    "Zoë Kowalczyk",
    "Nguyễn Thị Minh",
    "José Álvarez",
    "Aarav Sharma",
    "Olamide Adeyemi",
    "李伟",
    "Søren Madsen",
    "Fatima Zahra El Idrissi",
    "Mateo Rossi",
    "Hannah Schmidt",
    "Kwame Mensah",
    "Priya Natarajan",
    "Lucas Oliveira",
    "Sofia Petrova",
    "Daniel Kim",
    "Aisha Bello",
    "Tomás Ó Briain",
    "Yuki Tanaka",
    "Elif Yılmaz",
    "Noah Müller",
    "Chloé Dubois",
    "Ravi Menon",
    "Isabella García",
    "Mikael Lindqvist",
    "Adaeze Nwosu",
    "Omar Haddad",
    "Grace O'Connell",
    "Wei Chen",
    "Leila Farahani",
    "Jakub Nowak",
    "Maya Levi",
    "Samuel Adjei",
    "Ana Sousa",
    "Henrik Johansson",
    "Ngozi Eze",
    "Arjun Patel",
    "Camille Martin",
    "Diego Fernández",
    "Emma Wilson",
    "Tariq Rahman",
    "Ingrid Berg",
    "Kofi Boateng",
    "Valentina Romano",
    "Hiroshi Sato",
    "Zainab Yusuf",
    "Luca Bianchi",
    "Freya Nielsen",
    "Mohammed Al-Farsi",
    "Sara Cohen",
    "Björn Eriksson",
    "Chidi Okeke",
    "Julia Kowalski",
    "Ethan Brooks",
    "Mei Lin",
    "Rafael Costa",
    "Anya Ivanova",
    "Kiran Rao",
    "Oluwaseun Balogun",
    "Clara Weber",
    "Dmitri Volkov",
    "Nadia Benali",
)


@dataclass(frozen=True)
class _AssessmentDef:
    key: str
    org_id: str
    scenario: str
    title: str
    role: str
    sessions: int
    time_limit: int | None
    budget: float | None
    created_ms: int
    first_day_ms: int
    days: int
    repo_owner: str


_ASSESSMENTS = (
    _AssessmentDef(
        "acme-pay",
        "org_acme",
        "pay",
        "Senior Backend Engineer: duplicate charges on webhook retry",
        "Senior Backend Engineer",
        25,
        120,
        25.0,
        day_ms(10, 1, 9, 12),
        day_ms(10, 5),
        45,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-rate",
        "org_acme",
        "rate",
        "Full-stack Engineer: sliding-window rate limiter",
        "Full-stack Engineer",
        16,
        90,
        None,
        day_ms(10, 3, 14, 40),
        day_ms(10, 8),
        42,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-inv",
        "org_acme",
        "inv",
        "Staff Engineer: inventory sync drops items",
        "Staff Engineer",
        8,
        None,
        500.0,
        day_ms(10, 9, 11, 5),
        day_ms(10, 13),
        36,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-san",
        "org_acme",
        "san",
        "Security Engineer: script injection in the webhook log",
        "Security Engineer",
        6,
        60,
        15.0,
        day_ms(10, 14, 16, 20),
        day_ms(10, 20),
        30,
        "acme-hiring",
    ),
    _AssessmentDef(
        "globex-inv",
        "org_globex",
        "inv",
        "Data Platform Engineer: warehouse sync",
        "Data Platform Engineer",
        5,
        150,
        None,
        day_ms(10, 2, 8, 0),
        day_ms(10, 6),
        44,
        "globex-eng",
    ),
    _AssessmentDef(
        "globex-rate",
        "org_globex",
        "rate",
        "Platform Engineer: API throttling",
        "Platform Engineer",
        3,
        90,
        20.0,
        day_ms(10, 11, 10, 30),
        day_ms(10, 15),
        35,
        "globex-eng",
    ),
)

# Sessions with a special role, by (assessment key, position). Everything else is ordinary.
_ROLES: dict[tuple[str, int], str] = {
    ("acme-pay", 0): "running",
    ("acme-pay", 1): "running",
    ("acme-pay", 2): "fraction",
    ("acme-pay", 3): "data_quirks",
    ("acme-pay", 4): "lockfile",
    ("acme-pay", 5): "list_source",
    ("acme-rate", 0): "running",
    ("acme-rate", 1): "empty",
    ("acme-rate", 2): "missing_fields",
    ("acme-rate", 3): "not_computed",
    ("acme-rate", 4): "list_source",
    ("acme-inv", 0): "big",
    ("acme-inv", 1): "lockfile",
    ("acme-san", 0): "hostile",
    ("acme-san", 1): "wide_line",
    ("globex-inv", 0): "running",
    ("globex-rate", 0): "not_computed",
}

_SOURCE_WEIGHTS = (("claude-code", 50), ("cursor", 25), ("codex", 15), ("shell", 10))
_LIST_FORMS: dict[str, list[str]] = {
    "claude-code": ["claude_code"],
    "cursor": ["cursor"],
    "codex": ["codex"],
    "shell": ["claude_code", "shell"],
}


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    roll = rng.randrange(sum(w for _, w in weights))
    for name, weight in weights:
        if roll < weight:
            return name
        roll -= weight
    return weights[0][0]


def _event_total(rng: random.Random, role: str) -> int:
    """Total events of a session, by role; ordinary ones are log-uniform over 50..3000."""
    if role == "big":
        return BIG_SESSION_EVENTS
    if role == "empty":
        return 0
    if role == "hostile":
        return 240
    if role == "running":
        return rng.randint(300, 900)
    return int(round(50 * (60 ** rng.random())))


@dataclass
class Roster:
    """Everything generated up front for one seed (events excepted)."""

    assessments: dict[str, list[dict[str, Any]]]
    """Each org's assessments, createdAt ascending."""
    specs: dict[str, SessionSpec]
    """Every generated session by id, in roster order."""
    roles: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Each org's special sessions: role -> session ids."""


def build_roster(seed: int, anchor_ms: int) -> Roster:
    """The roster for ``seed``; running sessions were last active shortly before ``anchor_ms``."""
    builder = _Builder(seed, anchor_ms)
    builder.build()
    return Roster(builder.assessments, builder.specs, builder.roles)


class _Builder:
    """Builds a :class:`Roster`: assessments in order, then each assessment's sessions."""

    def __init__(self, seed: int, anchor_ms: int) -> None:
        self.seed = seed
        self._anchor_ms = anchor_ms
        self.assessments: dict[str, list[dict[str, Any]]] = {o["id"]: [] for o in ORGS}
        self.specs: dict[str, SessionSpec] = {}
        self.roles: dict[str, dict[str, list[str]]] = {o["id"]: {} for o in ORGS}

    def build(self) -> None:
        names = {
            o["id"]: random.Random(f"{self.seed}:names:{o['id']}").sample(_NAMES, len(_NAMES))
            for o in ORGS
        }
        used = {o["id"]: 0 for o in ORGS}
        prefixes: set[str] = set()
        for adef in _ASSESSMENTS:
            assessment = self._assessment_dict(adef)
            self.assessments[adef.org_id].append(assessment)
            for n in range(adef.sessions):
                role = _ROLES.get((adef.key, n), "ordinary")
                name = names[adef.org_id][used[adef.org_id] % len(_NAMES)]
                used[adef.org_id] += 1
                spec = self._make_spec(adef, assessment, n, role, name)
                if spec.prefix in prefixes:
                    raise RuntimeError("event id prefix collision")  # astronomically unlikely
                prefixes.add(spec.prefix)
                self.specs[spec.id] = spec
                if role != "ordinary":
                    self.roles[adef.org_id].setdefault(role, []).append(spec.id)

    def _assessment_dict(self, adef: _AssessmentDef) -> dict[str, Any]:
        scn = load_scenario(adef.scenario)
        return {
            "id": uuid_for(self.seed, f"assessment:{adef.key}"),
            "orgId": adef.org_id,
            "title": adef.title,
            "role": adef.role,
            "taskBrief": scn.brief,
            "repoUrl": f"https://github.com/{adef.repo_owner}/{scn.repo}",
            "issueId": None,
            "rubricId": None,
            "timeLimitMinutes": adef.time_limit,
            "tokenBudgetUsd": adef.budget,
            "expiresInDays": 7,
            "createdAt": iso(adef.created_ms),
            "updatedAt": iso(adef.created_ms + 3 * MS_PER_MIN + 12_345),
            "issue": None,
        }

    def _make_spec(
        self, adef: _AssessmentDef, assessment: dict[str, Any], n: int, role: str, name: str
    ) -> SessionSpec:
        rng = random.Random(f"{self.seed}:roster:{adef.key}:{n}")
        session_id = uuid_for(self.seed, f"session:{adef.key}:{n}")
        total = _event_total(rng, role)
        ended = role not in ("running", "empty")
        body = max(0, total - 1 - (1 if ended else 0))
        turns = max(1, -(-body // TURN_LEN))
        source = (
            "claude-code"
            if role in ("big", "hostile", "data_quirks")
            else _weighted(rng, _SOURCE_WEIGHTS)
        )
        if role == "big":
            duration_ms = 38 * 3_600_000
        else:
            duration_ms = int((rng.uniform(60, 95) + min(85, body / 3000 * 85)) * MS_PER_MIN)
        span = max(TURN_LEN, duration_ms // turns)
        if role in ("running", "empty"):
            start = self._anchor_ms - turns * span - rng.randint(60_000, 420_000)
        else:
            day = adef.first_day_ms + rng.randrange(adef.days) * DAY_MS
            start = day + rng.randint(7 * 60, 17 * 60) * MS_PER_MIN + rng.randrange(60_000)
        cycle = min(int(turns * 1.5) if role == "running" else turns, rng.randint(24, 36))
        spec = SessionSpec(
            id=session_id,
            org_id=adef.org_id,
            assessment_id=assessment["id"],
            scenario=adef.scenario,
            source=source,
            source_service=source,
            candidate=name,
            repo_url=assessment["repoUrl"],
            start_ms=start,
            span_ms=span,
            base_count=total,
            ended=ended,
            end_gap_ms=rng.randint(4_000, 90_000),
            cycle_turns=max(1, cycle),
            decision_every=6 if role == "big" else 3 if role == "hostile" else rng.randint(4, 9),
            prefix=event_prefix(self.seed, session_id),
            model=rng.choice(MODELS[source]),
            ide_session=uuid_for(self.seed, f"ide:{session_id}"),
            created_ms=start + 350,
            prompt_key_every=7 if n % 4 == 1 else 0,
            system_provenance=rng.random() < 0.6,
            attribution_pct=round(rng.uniform(18, 96), 1),
            cost_usd=0.0 if source == "shell" else round(body * rng.uniform(0.0025, 0.006), 2),
        )
        if rng.random() < 0.15:
            spec.source_service = list(_LIST_FORMS[source])
        if rng.random() < 0.35:
            plain = unicodedata.normalize("NFKD", name.split()[0].lower())
            slug = plain.encode("ascii", "ignore").decode() or "candidate"
            spec.extra_metadata = {
                "submissionsRepo": f"{adef.repo_owner}/submissions",
                "submissionsBranch": f"candidate/{slug}-{session_id[:6]}",
            }
        self._apply_role(spec, role, rng)
        return spec

    def _apply_role(self, spec: SessionSpec, role: str, rng: random.Random) -> None:
        """Give the special sessions their documented quirks (REFERENCE.md section 7)."""
        if role in ("running", "empty", "not_computed"):
            spec.attribution_pct = None  # "null if attribution has not been computed yet"
        if role == "empty":
            spec.cost_usd = 0.0
        elif role == "fraction":
            spec.attribution_pct = round(rng.uniform(0.55, 0.9), 2)  # quickstart's 0-1 form
        elif role == "list_source":
            spec.source_service = list(_LIST_FORMS[spec.source])
        elif role == "missing_fields":
            spec.omit_fields = ("lastActivityAt", "totalCostUsd")
            spec.impact_fraction = True
        elif role == "data_quirks":
            spec.prompt_key_every = 3
            spec.quirks[self._find(spec, "command", 20)] = ("no_data",)
            spec.quirks[self._find(spec, "file_diff", 30)] = ("null_data",)
        elif role == "lockfile":
            lockfile = load_scenario(spec.scenario).lockfile
            spec.quirks[self._find(spec, "file_diff", spec.base_count // 2)] = (
                "lockfile",
                lockfile,
                280,
            )
        elif role == "big":
            spec.quirks[self._find(spec, "file_diff", 20_000)] = (
                "lockfile",
                "package-lock.json",
                200,
            )
            spec.quirks[self._find(spec, "file_diff", 50_000)] = ("lockfile", "poetry.lock", 1400)
            spec.attribution_pct = 81.4
        elif role == "wide_line":
            spec.quirks[self._find(spec, "file_diff", 10)] = (
                "minified",
                "static/vendor/purify.min.js",
                200_000,
            )
        elif role == "hostile":
            self._make_hostile(spec, rng)

    def _make_hostile(self, spec: SessionSpec, rng: random.Random) -> None:
        spec.hostile = True
        spec.source_service = ["claude_code", "<script>alert('sourceService')</script>"]
        spec.candidate = "<img src=x onerror=alert('candidateName')> Robert'); DROP TABLE--"
        spec.repo_url = "javascript:alert(document.domain)"
        spec.extra_metadata = {
            "submissionsRepo": rng.choice(PAYLOADS),
            "submissionsBranch": "\"><script>alert('branch')</script>",
        }
        spec.quirks[self._find(spec, "tool_use", 30)] = ("hostile_kind",)

    def _find(self, spec: SessionSpec, kind: str, start: int) -> int:
        """First index at or after ``start`` whose event has ``kind`` (cheap: plans only)."""
        last = spec.base_count - (2 if spec.ended else 1)
        for i in range(max(1, start), last + 1):
            if layout(self.seed, spec, i)[0] == kind:
                return i
        raise LookupError(f"no {kind} event after {start} in {spec.id}")
