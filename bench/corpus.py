"""The benchmark corpus: news articles, their pages and feeds, generated deterministically.

Everything here is a pure function of a ``Spec`` (the seed, the sizes) and an article's index:
article *i* is the same bytes in every process and run, so the feed farm (``farm.py``) can serve
it while a benchmark renders the same page itself (the extraction ceiling).

Material, all from the repository:

* **unrelated news**: the paragraphs of the sample site's pages that raise no alert and are no
  trap (``monitor/demo/site``, its MANIFEST says which), fed to a word Markov chain (order 2,
  or 1 half the time, a few words swapped), so every article has its own sentences with the
  vocabulary of the sample pages: two of them share few word 3-grams (the near-duplicate stage
  sees them as distinct) and they match no rule; one in twenty carries a trap example of the
  rule files (Lebanese Hezbollah, a US strike on a militia…), which must match nothing;
* **attack reports** (one article in ``RELEVANT_EVERY``): a lead taken from the rule files'
  matching examples (the five seed reports and the further real cases), then paragraphs of the
  seed reports (``tests/data/seeds``), then unrelated news up to the article's length;
* **syndicated copies** (one article in ``COPY_EVERY``): the body and headline of an earlier
  article of another outlet, in this outlet's page layout; a third of them copy the latest
  attack report (a wire story taken up by several outlets).

Bodies run from 200 to 6,000 words (log-normal, median ~700). Pages come in four layouts
(semantic ``<article>``; div soup with ads and read-also boxes inside the body; a live page of
short timed posts; a compact page with JSON-LD), with navigation, a sidebar, related links,
comments, share and newsletter boxes, menus and inline script (``layouts.py``). Feeds summarise
an article as their outlet does (``SUMMARY_STYLES``): its first 40 words (half the outlets), its
first sentence, or not at all (a headline and a link).
"""

from __future__ import annotations

import functools
import html
import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import yaml
from layouts import render
from lxml import html as lxml_html

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "monitor" / "demo" / "site"
SEEDS = ROOT / "tests" / "data" / "seeds"
RULES = ROOT / "rules"
RELEVANT_EVERY = 20
COPY_EVERY = 25
# How outlets summarise an article in their feed, by outlet number modulo 4.
SUMMARY_STYLES = ("lead", "sentence", "lead", "none")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC).timestamp()
_WORDS = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"""[.!?]["'”’)]*$""")
_NAMES = ("Baghdad Post", "Tigris Daily", "Euphrates Wire", "Levant Courier", "Gulf Monitor",
          "Kurdistan Herald", "Basra Observer", "Anbar Times", "Nineveh Today", "Desert Dispatch",
          "Mesopotamia Now", "Erbil Chronicle", "Capital Report", "Arab Ledger", "Crescent News")
_SECTIONS = ("Iraq", "Syria", "Middle East", "World", "Business", "Economy", "Sport", "Opinion",
             "Culture", "Health", "Technology", "Energy", "Politics", "Video", "Podcasts")


@dataclass(frozen=True)
class Spec:
    """What the farm serves. ``now`` (epoch seconds) is the corpus' present: articles are
    published over the ``span_hours`` before it."""

    articles: int = 2000
    seed: int = 1
    per_feed: int = 50  # entries per news feed (a feed is one outlet's section)
    outlets: int = 50  # news hosts: 127.1.x.y, one outlet each
    poll_feeds: int = 0  # polling feeds (few, already-seen entries): 127.2.x.y
    poll_hosts: int = 100
    poll_entries: int = 3
    delay_ms: float = 150.0
    now: float = NOW
    span_hours: float = 20.0
    smtp: bool = False

    @property
    def feeds(self) -> int:
        return max(1, math.ceil(self.articles / self.per_feed))


@dataclass(frozen=True)
class Article:
    index: int
    outlet: int
    feed: int
    kind: str  # news | report | copy
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    layout: int
    path: str
    copy_of: int | None = None

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)

    @property
    def summary(self) -> str:
        """The feed's summary of the article, in the outlet's style (``SUMMARY_STYLES``): the
        first 40 words, the first sentence only, or none (the headline alone)."""
        style = SUMMARY_STYLES[self.outlet % len(SUMMARY_STYLES)]
        if style == "none" or not self.paragraphs:
            return ""
        words = " ".join(self.paragraphs).split()
        if style == "sentence":
            first = next((i for i, w in enumerate(words[:40]) if _SENTENCE_END.search(w)), 39)
            return " ".join(words[:first + 1])
        return " ".join(words[:40]) + " …"


@dataclass(frozen=True)
class Material:
    chain: dict[tuple[str, str], tuple[str, ...]]
    chain1: dict[str, tuple[str, ...]]
    vocabulary: tuple[str, ...]
    starts: tuple[tuple[str, str], ...]
    reports: tuple[tuple[str, str], ...]  # (title, lead) of matching rule examples
    traps: tuple[str, ...]
    seed_paragraphs: tuple[str, ...]
    bases: tuple[str, ...]


@functools.cache
def material() -> Material:
    quiet = set()
    for line in (SITE / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[1].startswith("`") and cells[5] == "no" and not cells[6]:
            quiet.add(cells[1].strip("`"))
    prose: list[str] = []
    for rel in sorted(quiet):
        tree = lxml_html.fromstring((SITE / rel).read_bytes())
        prose += [" ".join(p.text_content().split()) for p in tree.iterfind(".//article//p")]
    examples = yaml.safe_load((RULES / "iraq-syria.yaml").read_text(encoding="utf-8"))["examples"]
    traps = tuple(" ".join(e["text"].split()) for e in examples if not e.get("expect"))
    reports = tuple((e.get("title") or _headline(e["text"]), " ".join(e["text"].split()))
                    for e in examples if e.get("expect"))
    chain: dict[tuple[str, str], list[str]] = {}
    starts: list[tuple[str, str]] = []
    for paragraph in (p for p in prose if len(p) > 60):
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", paragraph):
            words = sentence.split()
            if len(words) < 5:
                continue
            starts.append((words[0], words[1]))
            for a, b, c in zip(words, words[1:], words[2:], strict=False):
                chain.setdefault((a, b), []).append(c)
    seeds = []
    for path in sorted(SEEDS.glob("*.txt")):
        seeds += [" ".join(p.split()) for p in path.read_text(encoding="utf-8").split("\n\n")
                  if len(p.split()) > 25]
    bases = yaml.safe_load((RULES / "entities" / "bases.yaml").read_text(encoding="utf-8"))
    names = tuple(re.sub(r"\s*\(.*\)", "", e["name"]) for e in bases["entities"])
    chain1: dict[str, list[str]] = {}
    for (_, b), follow in chain.items():
        chain1.setdefault(b, []).extend(follow)
    vocabulary = sorted({w for follow in chain.values() for w in follow
                         if len(w) >= 4 and w.isalpha()})
    return Material(chain={k: tuple(v) for k, v in chain.items()},
                    chain1={k: tuple(v) for k, v in chain1.items()},
                    vocabulary=tuple(vocabulary), starts=tuple(starts),
                    reports=reports, traps=traps, seed_paragraphs=tuple(seeds), bases=names)


def _headline(text: str) -> str:
    words = text.split()[:11]
    return " ".join(words).rstrip(",.;:") if words else "News"


def sentence(rng: random.Random, m: Material) -> str:
    """One sentence: each word follows the last two (or, half the time, the last one) as in
    the material; a few words are swapped for any word of it, so generated articles share few
    word 3-grams (median estimated Jaccard ~0.03, like unrelated news)."""
    words = list(rng.choice(m.starts))
    while len(words) < 40:
        follow = (m.chain1.get(words[-1]) if rng.random() < 0.5
                  else m.chain.get((words[-2], words[-1])))
        if not follow:
            break
        word = rng.choice(follow)
        if rng.random() < 0.15 and len(word) >= 4 and word.isalpha():
            word = rng.choice(m.vocabulary)
        words.append(word)
        if len(words) >= 8 and _SENTENCE_END.search(words[-1]):
            break
    text = " ".join(words)
    return text if _SENTENCE_END.search(text) else text.rstrip(",;:") + "."


def paragraph(rng: random.Random, m: Material, sentences: int = 0) -> str:
    return " ".join(sentence(rng, m) for _ in range(sentences or rng.randint(2, 5)))


class Corpus:
    """Articles, pages and feeds of one ``Spec``; ``base(kind, n)`` is set by whoever serves
    it (the URL prefix of news outlet or polling host ``n``)."""

    def __init__(self, spec: Spec, port: int = 0) -> None:
        self.spec = spec
        self.port = port
        self.m = material()
        self.extras: dict[int, list[int]] = {}  # feed → published extra article indexes
        self.extra_times: dict[int, float] = {}

    # --- addresses ---------------------------------------------------------------------
    @staticmethod
    def ip(kind: str, n: int) -> str:
        return f"127.{1 if kind == 'news' else 2}.{n // 250}.{n % 250 + 1}"

    def base(self, kind: str, n: int) -> str:
        return f"http://{self.ip(kind, n)}:{self.port}"

    def feed_url(self, f: int) -> str:
        ext = "atom" if self.atom(f % self.spec.outlets) else "xml"
        return f"{self.base('news', f % self.spec.outlets)}/feeds/{f}.{ext}"

    def poll_url(self, i: int) -> str:
        return f"{self.base('poll', i % self.spec.poll_hosts)}/p/{i}.xml"

    def url(self, i: int) -> str:
        a = self.article(i)
        return self.base("news", a.outlet) + a.path

    @staticmethod
    def atom(outlet: int) -> bool:
        return outlet % 3 == 2

    @staticmethod
    def full_content(outlet: int) -> bool:
        return outlet % 5 == 4

    def outlet_name(self, o: int) -> str:
        return f"{_NAMES[o % len(_NAMES)]}{'' if o < len(_NAMES) else f' {o // len(_NAMES) + 1}'}"

    # --- articles ----------------------------------------------------------------------
    def _rng(self, i: int, what: str = "") -> random.Random:
        return random.Random(f"{self.spec.seed}:{i}:{what}")

    def kind(self, i: int) -> str:
        if i >= self.spec.articles:
            return "report"
        if i % RELEVANT_EVERY == 7:
            return "report"
        return "copy" if i % COPY_EVERY == 11 and i > 40 else "news"

    def copy_source(self, i: int) -> int:
        rng = self._rng(i, "copy")
        if rng.random() < 1 / 3:
            return i - 1 - (i - 1 - 7) % RELEVANT_EVERY  # the latest attack report
        j = i - rng.randint(1, 40)
        return j if self.kind(j) != "copy" else j - 1

    def title(self, i: int) -> str:
        kind = self.kind(i)
        if kind == "copy":
            return self.title(self.copy_source(i))
        if i >= self.spec.articles:
            bases = self.m.bases
            return f"Rocket attack targets {bases[(i - self.spec.articles) % len(bases)]}"
        if kind == "report":
            return self.m.reports[self._rng(i).randrange(len(self.m.reports))][0]
        words = sentence(self._rng(i, "title"), self.m).rstrip(".").split()
        return " ".join(words[:12]).rstrip(",;:")

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one corpus per process)
    def article(self, i: int) -> Article:
        spec, m = self.spec, self.m
        rng = self._rng(i)
        feed = i % spec.feeds if i < spec.articles else self.extra_feed(i)
        outlet = feed % spec.outlets
        kind = self.kind(i)
        target = int(min(6000, max(200, rng.lognormvariate(math.log(700), 0.7))))
        copy_of = None
        if kind == "copy":
            copy_of = self.copy_source(i)
            body = list(self.article(copy_of).paragraphs)
        elif i >= spec.articles:  # published while the bench runs: a distinct report each
            k = i - spec.articles
            base = m.bases[k % len(m.bases)]
            body = [f"Rockets struck {base} late on Tuesday, wounding {2 + k % 5} US service "
                    f"members and damaging a hangar, US officials said. No group immediately "
                    f"claimed the attack on the base, the {k + 1}th this month."]
            body += [paragraph(rng, m) for _ in range(rng.randint(3, 8))]
        else:
            body = []
            if kind == "report":
                body.append(m.reports[rng.randrange(len(m.reports))][1])
                body += rng.sample(m.seed_paragraphs, rng.randint(1, 3))
            elif rng.random() < 0.05:
                body.append(rng.choice(m.traps))
            while sum(len(p.split()) for p in body) < target:
                body.append(paragraph(rng, m))
        if i < spec.articles:
            age = spec.span_hours * 3600 * (spec.articles - i) / spec.articles
            published = spec.now - age + rng.uniform(-60, 0)
        else:
            published = self.extra_times.get(i, spec.now)
        when = datetime.fromtimestamp(published, UTC).replace(microsecond=0)
        title = self.title(i)
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].rstrip("-")
        return Article(index=i, outlet=outlet, feed=feed, kind=kind, title=title,
                       paragraphs=tuple(body), published=when, layout=rng.randrange(4),
                       path=f"/{when:%Y/%m/%d}/{slug}-{i}.html", copy_of=copy_of)

    def extra_feed(self, i: int) -> int:
        return next(f for f, items in self.extras.items() if i in items)

    def publish(self, feed: int, when: float) -> int:
        """A new attack report at the top of ``feed``, published ``when``; its index."""
        i = self.spec.articles + len(self.extra_times)
        self.extra_times[i] = when
        self.extras.setdefault(feed, []).append(i)
        return i

    def feed_items(self, f: int) -> list[int]:
        spec = self.spec
        own = list(range(f, spec.articles, spec.feeds))[-spec.per_feed:]
        return list(reversed(own + self.extras.get(f, [])))  # newest first

    # --- pages -------------------------------------------------------------------------
    def page(self, i: int) -> bytes:
        a = self.article(i)
        rng = self._rng(i, "page")
        near = [j for j in range(max(0, i - 12), i) if j != i][-8:]
        related = [(self.title(j), self.url(j)) for j in near]
        comments = [paragraph(rng, self.m, rng.randint(1, 2))
                    for _ in range(rng.choice((0, 0, 2, 5, 12, 25)))]
        return render(a, self.outlet_name(a.outlet), self.base("news", a.outlet),
                      related, comments, rng).encode()

    # --- feeds -------------------------------------------------------------------------
    def feed(self, f: int) -> bytes:
        outlet = f % self.spec.outlets
        items = [self.article(i) for i in self.feed_items(f)]
        name = f"{self.outlet_name(outlet)}: {_SECTIONS[f // self.spec.outlets % len(_SECTIONS)]}"
        return feed_xml(name, self.base("news", outlet), items, self.url,
                        atom=self.atom(outlet), full=self.full_content(outlet))

    def poll_feed(self, i: int) -> bytes:
        """Polling feed ``i``: ``poll_entries`` short items (a headline, a one-sentence
        summary, dated two days back), each linking to a document of its own on the feed's
        host that is not HTML (the monitor refuses it before reading its body and keeps the
        summary: a first pass stores every entry without a page to extract)."""
        base = self.base("poll", i % self.spec.poll_hosts)
        items = []
        for j in range(self.spec.poll_entries):
            rng = self._rng(i * 1000 + j, "poll")
            headline = " ".join(sentence(rng, self.m).rstrip(".").split()[:10])
            items.append(Article(index=j, outlet=0, feed=-1, kind="news", title=headline,
                                 paragraphs=(sentence(rng, self.m),),
                                 published=datetime.fromtimestamp(self.spec.now, UTC)
                                 - timedelta(days=2, hours=j),
                                 layout=0, path=f"/p/x/{i}/{j}.pdf"))
        return feed_xml(f"Polling feed {i}", base, items, lambda j: f"{base}/p/x/{i}/{j}.pdf",
                        atom=i % 4 == 3, full=False, guid=lambda a: f"poll-{i}-{a.index}")


def feed_xml(title: str, base: str, items: list[Article], url: object, *, atom: bool,
             full: bool, guid: object = None) -> bytes:
    """RSS 2.0 or Atom 1.0 for ``items`` (newest first); ``url(index)`` gives each link."""
    e = html.escape
    link = url  # a callable: index → URL
    out: list[str] = ['<?xml version="1.0" encoding="utf-8"?>']
    updated = max((a.published for a in items), default=datetime.fromtimestamp(NOW, UTC))
    for a in items:
        a_url = link(a.index)  # type: ignore[operator]
        a_guid = guid(a) if guid else f"{base}/a/{a.index}"  # type: ignore[operator]
        body = "".join(f"<p>{e(p)}</p>" for p in a.paragraphs) if full else ""
        if atom:
            out.append(f"<entry><title>{e(a.title)}</title><link href=\"{e(a_url)}\"/>"
                       f"<id>tag:{e(a_guid)}</id><published>{a.published.isoformat()}</published>"
                       f"<updated>{a.published.isoformat()}</updated><author><name>Staff"
                       f"</name></author><summary type=\"html\">{e(a.summary)}</summary>"
                       + (f"<content type=\"html\">{e(body)}</content>" if full else "")
                       + "</entry>")
        else:
            out.append(f"<item><title>{e(a.title)}</title><link>{e(a_url)}</link>"
                       f"<guid isPermaLink=\"false\">{e(a_guid)}</guid>"
                       f"<pubDate>{format_datetime(a.published)}</pubDate>"
                       f"<dc:creator>Staff</dc:creator><category>News</category>"
                       f"<description><![CDATA[{a.summary}]]></description>"
                       + (f"<content:encoded><![CDATA[{body}]]></content:encoded>" if full
                          else "") + "</item>")
    entries = "\n".join(out[1:])
    if atom:
        return (f'{out[0]}\n<feed xmlns="http://www.w3.org/2005/Atom"><title>{e(title)}</title>'
                f'<id>{e(base)}/</id><updated>{updated.isoformat()}</updated>'
                f'<link rel="alternate" href="{e(base)}/"/>\n{entries}\n</feed>\n').encode()
    return (f'{out[0]}\n<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/'
            f'content/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{e(title)}'
            f'</title><link>{e(base)}/</link><description>{e(title)}</description>'
            f'<language>en</language><lastBuildDate>{format_datetime(updated)}</lastBuildDate>'
            f'\n{entries}\n</channel></rss>\n').encode()
