"""Near-duplicate fingerprints: copies and light rewrites are near, retellings and unrelated
articles are not, short texts only match exactly, and a signature is the same in every process."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.dedup import near
from monitor.dedup.near import (
    BANDS,
    DUPLICATE,
    EDIT,
    MIN_WORDS,
    PERMUTATIONS,
    SCHEME,
    SHINGLE,
    Fingerprint,
    bands,
    classify,
    content_hash,
    fingerprint,
    similarity,
    words,
)
from monitor.extract import extract_html
from monitor.model import Entry

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((Path(__file__).parent / "data" / "seeds").glob("*.txt"))
SITE = ROOT / "monitor" / "demo" / "site"
# The sample site's pages that carry the seed articles (see monitor/demo/site/MANIFEST.md).
SEED_PAGES = {
    "000": "the-national/2024/08/06/rocket-attack-on-us-forces-could-derail-withdrawal-talks.html",
    "001": "shafaq-news/2024/08/07/rocket-attack-on-us-forces-in-iraq-may-derail-withdrawal-talks"
           ".html",
    "002": "asharq-al-awsat/2019/12/07/us-concerned-by-spate-of-attacks-on-its-bases-in-iraq.html",
    "003": "al-fassel/2024/08/08/iran-linked-attacks-on-coalition-base-in-iraq-undermine-iraqi"
           "-government.html",
    "004": "the-new-arab/2023/10/25/anti-us-armed-groups-in-iraq-shrug-aside-warnings-to-cease"
           "-attacks.html",
}
# A text just over MIN_WORDS words (21): 19 shingles for 96 bins.
SHORT = ("Rockets struck the Ain al-Asad air base in western Iraq late on Monday wounding five"
         " US service members officials said")
# Replacement words for the rewrites: none of them is in the seeds' vocabulary.
OTHER = ("lantern quarry velvet ember orchard harbour meadow thimble cobalt saffron juniper "
         "falcon marble tundra willow bramble prism gravel nectar").split()


def seed(n: int) -> str:
    return SEEDS[n].read_text()


def seed_id(n: int) -> str:
    return SEEDS[n].name[:3]


def page_text(path: Path) -> str:
    entry = Entry(feed="f", guid="g", link=None, title="t", summary="", published=None)
    article = extract_html(entry, path.read_bytes(), "http://127.0.0.1/" + path.name)
    assert article is not None
    return article.text


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {str(p.relative_to(SITE)): page_text(p)
            for p in sorted(SITE.rglob("*.html")) if p.name != "index.html"}


def scattered(text: str, share: float, rng: random.Random) -> str:
    """``share`` of the words replaced, one here, one there."""
    ws = text.split()
    for i in rng.sample(range(len(ws)), int(len(ws) * share)):
        ws[i] = rng.choice(OTHER)
    return " ".join(ws)


def rewritten(text: str, share: float, rng: random.Random, runs: int = 3) -> str:
    """``share`` of the words replaced in ``runs`` rewritten passages."""
    ws = text.split()
    n = int(len(ws) * share) // runs
    starts = sorted(rng.sample(range(0, len(ws) - n, n + 1), runs))
    for start in starts:
        ws[start:start + n] = [rng.choice(OTHER) for _ in range(n)]
    return " ".join(ws)


def shares_a_bucket(a: Fingerprint, b: Fingerprint) -> bool:
    return any(x == y for x, y in zip(bands(a), bands(b), strict=True))


# --- words and hashes ----------------------------------------------------------------------


def test_words_are_normalised() -> None:
    assert words("The U.S.-led Coalition’s  BASE, hit!") == ["the", "u", "s", "led", "coalition",
                                                            "s", "base", "hit"]
    assert words("Café ＩＲＡＱ ﬁve") == ["cafe", "iraq", "five"]  # accents, NFKC width, ligature
    # Arabic: harakat and the tatweel do not make another word
    assert words("كَتائِبُ حـــزب الله") == words("كتائب حزب الله")


def test_content_hash_is_blind_to_case_punctuation_and_spacing() -> None:
    a = "Rockets hit Ain al-Asad air base on Monday, officials said."
    assert content_hash(a) == content_hash("ROCKETS hit  Ain al Asad air base on Monday officials "
                                           "said")
    assert content_hash(a) != content_hash(a.replace("Monday", "Tuesday"))


def test_the_fingerprint_scheme_is_pinned() -> None:
    """Changing the normalisation, shingles or hashes silently breaks every stored fingerprint:
    this pins them (scheme 2). If it must change, bump ``SCHEME`` and add a migration that
    recomputes ``fingerprints`` (as ``0012_fingerprints_v2`` did). The content hash is not part
    of the scheme: it has not changed since scheme 1."""
    fp = fingerprint("Rockets struck the Ain al-Asad air base in western Iraq late on Monday,"
                     " wounding five US service members and two contractors, officials said on"
                     " Tuesday.")
    assert SCHEME == 2
    assert len(fp.signature) == PERMUTATIONS and len(bands(fp)) == BANDS
    assert fp.words == 26
    assert fp.content_hash == "4cdca0a9e4e250630a270fdd4dc68e0e"
    assert fp.signature[:4] == (2284973426, 1405765077, 2525016250, 2697323272)
    assert bands(fp)[:2] == (4797125849148592340, 7364739682664140489)


def test_signature_bytes_round_trip() -> None:
    fp = fingerprint(seed(1))
    data = fp.signature_bytes()
    assert len(data) == 4 * PERMUTATIONS
    assert Fingerprint.from_bytes(data, fp.content_hash, fp.words) == fp
    short = fingerprint("Breaking: rockets hit a base")
    assert Fingerprint.from_bytes(short.signature_bytes(), short.content_hash, short.words) == short


@pytest.mark.parametrize("hashseed", ["0", "12345"])
def test_the_signature_is_the_same_in_another_process(hashseed: str, tmp_path: Path) -> None:
    """Whatever the process's ``PYTHONHASHSEED``: for a long text, and for a short one whose
    bins are mostly filled by later rounds (some by a second hash call)."""
    short = tmp_path / "short.txt"
    short.write_text(SHORT, encoding="utf-8")
    code = ("import json, sys; from monitor.dedup.near import fingerprint, bands;"
            " fps = [fingerprint(open(p, encoding='utf-8').read()) for p in sys.argv[1:]];"
            " print(json.dumps([[fp.signature, fp.content_hash, bands(fp)] for fp in fps]))")
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    out = subprocess.run([sys.executable, "-c", code, str(SEEDS[2]), str(short)], env=env,
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    for (signature, digest, buckets), text in zip(json.loads(out), [seed(2), SHORT], strict=True):
        fp = fingerprint(text)
        assert len(signature) == PERMUTATIONS
        assert (tuple(signature), digest, tuple(buckets)) == (fp.signature, fp.content_hash,
                                                              bands(fp))


# --- the sketch: one hash per shingle, its bins, the empty ones filled by later rounds -------

def shingle_set(text: str) -> set[bytes]:
    """What is hashed of each shingle, by its definition: the seed, a space, the words."""
    ws = words(text)
    return {" ".join([near._SEED, *ws[i:i + SHINGLE]]).encode()
            for i in range(len(ws) - SHINGLE + 1)}


def winners(shingles: set[bytes]) -> dict[int, tuple[int, int, bytes]]:
    """The signature by its definition, slowly: every shingle has a hash in every round (the
    64-bit words of BLAKE2b-512 personalised with the round // 8); a hash's bin is
    ``h * 96 >> 64``, its value the next 32 bits of ``h * 96``; each bin keeps the smallest
    (round, value) over all shingles. Per bin: (round, value, the shingle)."""
    best: dict[int, tuple[int, int, bytes]] = {}
    rnd = 0
    while len(best) < PERMUTATIONS:
        found: dict[int, tuple[int, int, bytes]] = {}
        person = (rnd // 8).to_bytes(16, "little")
        for s in shingles:
            digest = hashlib.blake2b(s, digest_size=64, person=person).digest()
            h = int.from_bytes(digest[8 * (rnd % 8):8 * (rnd % 8) + 8], "little")
            b, offset = divmod(h * PERMUTATIONS, 1 << 64)
            if b not in best and (b not in found or offset >> 32 < found[b][1]):
                found[b] = (rnd, offset >> 32, s)
        best.update(found)
        rnd += 1
    return best


@pytest.mark.parametrize("text", [SHORT, " ".join(["again"] * MIN_WORDS), seed(1)[:600],
                                  seed(0)], ids=["short", "one-shingle", "100-words", "long"])
def test_the_signature_is_its_definition(text: str) -> None:
    """The fast path (sorted hashes, a bisection per bin, eight rounds per hash call) gives the
    signature the slow definition gives, rounds and all."""
    best = winners(shingle_set(text))
    assert fingerprint(text).signature == tuple(best[b][1] for b in range(PERMUTATIONS))
    if text == SHORT:
        assert max(r for r, _, _ in best.values()) >= 8  # a second hash call was needed


def test_the_signature_depends_on_the_set_of_shingles_only() -> None:
    """Order and repeats change nothing: a text and itself with its shingles shuffled and
    repeated, or a word repeated 20 and 40 times (one shingle: ~500 rounds to fill the bins)."""
    shingles = near._shingles(words(SHORT))
    shuffled = shingles[::-1] + shingles[3:9]
    random.Random(1).shuffle(shuffled)
    assert near._sketch(shuffled) == near._sketch(shingles) == fingerprint(SHORT).signature
    a, b = fingerprint("again " * 20), fingerprint("again " * 40)
    assert a.content_hash != b.content_hash and a.signature == b.signature
    assert len(set(a.signature)) == PERMUTATIONS  # not one value copied into every bin
    assert similarity(a, fingerprint("other " * 20)) < 0.05


def test_bins_left_empty_are_filled_alike_in_two_texts() -> None:
    """Two short texts sharing most shingles leave many of the same bins empty after the first
    round; later rounds fill them from the same hashes, so in every bin (filled first or later)
    the two signatures agree exactly when the smallest (round, value) of the union of their
    shingles is a shared shingle: the mechanism that makes the estimate of J unbiased."""
    other = SHORT.replace("Monday", "Sunday") + " on Tuesday"
    sa, sb = shingle_set(SHORT), shingle_set(other)
    union = winners(sa | sb)
    a, b = fingerprint(SHORT).signature, fingerprint(other).signature
    late = 0
    for bin_, (rnd, _, shingle) in union.items():
        assert (a[bin_] == b[bin_]) == (shingle in sa and shingle in sb), bin_
        late += rnd > 0 and shingle in sa and shingle in sb
    assert late >= 20  # many bins were filled by later rounds, and filled alike
    assert abs(similarity(fingerprint(SHORT), fingerprint(other))
               - len(sa & sb) / len(sa | sb)) < 0.15


def test_a_hash_falls_in_the_bin_its_bounds_say() -> None:
    bounds = near._BOUNDS
    assert bounds[0] == 0 and bounds[-1] == 1 << 64 and len(bounds) == PERMUTATIONS + 1
    for b in range(1, PERMUTATIONS):
        assert bounds[b] * PERMUTATIONS >> 64 == b
        assert (bounds[b] - 1) * PERMUTATIONS >> 64 == b - 1


def test_short_texts_estimate_similarity_sensibly() -> None:
    """Fewer shingles than bins: a copy has the same signature, texts with no shingle in
    common share (almost) no value."""
    copy = SHORT.upper().replace(" ", "  ") + "."
    assert fingerprint(copy).signature == fingerprint(SHORT).signature
    rng = random.Random(7)
    for _ in range(20):
        a = " ".join(f"a{rng.getrandbits(32):x}" for _ in range(MIN_WORDS + rng.randrange(40)))
        b = " ".join(f"b{rng.getrandbits(32):x}" for _ in range(MIN_WORDS + rng.randrange(40)))
        assert similarity(fingerprint(a), fingerprint(b)) <= 1 / PERMUTATIONS


@pytest.mark.parametrize("target", [0.2, 0.5, 0.8])
def test_the_estimate_is_unbiased(target: float) -> None:
    """Over 300 random pairs of texts of 20 to 400 words at a Jaccard near ``target``, the
    estimate's mean error is within 0.01 (some 4 standard errors) and its spread no more than
    that of 96 independent permutations, ``sqrt(J(1-J)/96)``."""
    rng = random.Random(int(target * 100))
    errors = []
    for t in range(300):
        n = (MIN_WORDS, 40, 100, 400)[t % 4]
        shared = round(n * 2 * target / (1 + target))
        common = [f"c{rng.getrandbits(40):x}" for _ in range(shared)]
        a = common + [f"a{rng.getrandbits(40):x}" for _ in range(n - shared)]
        b = common + [f"b{rng.getrandbits(40):x}" for _ in range(n - shared)]
        sa, sb = shingle_set(" ".join(a)), shingle_set(" ".join(b))
        exact = len(sa & sb) / len(sa | sb)
        errors.append(similarity(fingerprint(" ".join(a)), fingerprint(" ".join(b))) - exact)
    mean = sum(errors) / len(errors)
    sd = (sum((e - mean) ** 2 for e in errors) / len(errors)) ** 0.5
    assert abs(mean) < 0.01
    assert sd < (target * (1 - target) / PERMUTATIONS) ** 0.5


def test_marks_are_stripped_as_the_table_says() -> None:
    """The regular expression that drops combining marks drops exactly the table's characters
    (content hashes depend on it)."""
    bmp = "".join(chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c < 0xE000)
    assert near._strip().sub("", bmp) == bmp.translate(near._strip_table())


# --- what is near, and what is not ---------------------------------------------------------


@pytest.mark.parametrize("n", range(len(SEEDS)))
def test_a_copy_on_a_page_with_other_boilerplate_is_a_duplicate(n: int, pages: dict[str, str]
                                                               ) -> None:
    """The sample site's page of each seed article, as the extractor reads it, against the
    seed capture (which kept or lost a caption, a headline, a "do you like this article" box)."""
    page = fingerprint(pages[SEED_PAGES[seed_id(n)]])
    capture = fingerprint(seed(n))
    assert classify(similarity(page, capture)) == "duplicate"
    assert shares_a_bucket(page, capture)


@pytest.mark.parametrize("n", range(len(SEEDS)))
def test_a_syndicated_copy_with_a_sentence_added_and_one_cut_is_a_duplicate(n: int) -> None:
    sentences = [s for s in seed(n).split("\n") if s.strip()]
    copy = "\n".join([*sentences[1:], "Reporting by our correspondent; editing by the desk."])
    sim = similarity(fingerprint(seed(n)), fingerprint(copy.upper()))
    assert sim >= DUPLICATE and classify(sim) == "duplicate"


def test_an_exact_copy_is_identical_whatever_its_punctuation() -> None:
    text = seed(3)
    copy = text.replace(",", "").replace("\n", "  ").replace("’", "'").lower()
    assert similarity(fingerprint(text), fingerprint(copy)) == 1.0


@pytest.mark.parametrize("n", range(len(SEEDS)))
def test_a_light_rewrite_with_a_tenth_of_the_words_changed_is_an_edit(n: int) -> None:
    rng = random.Random(n)
    original = fingerprint(seed(n))
    edited = fingerprint(scattered(seed(n), 0.10, rng))
    sim = similarity(original, edited)
    assert EDIT <= sim < DUPLICATE and classify(sim) == "edit"
    assert shares_a_bucket(original, edited)


@pytest.mark.parametrize("n", range(len(SEEDS)))
def test_rewritten_sentences_with_fifteen_percent_of_the_words_are_near(n: int) -> None:
    rng = random.Random(100 + n)
    original = fingerprint(seed(n))
    edited = fingerprint(rewritten(seed(n), 0.15, rng))
    assert classify(similarity(original, edited)) in ("edit", "duplicate")
    assert shares_a_bucket(original, edited)


def test_the_same_event_retold_in_other_words_is_not_near() -> None:
    """Seeds 000 and 001: Shafaq News retelling The National's report (quoting some of it). That
    they are one story is for the story stage to find, not this one."""
    a, b = fingerprint(seed(0)), fingerprint(seed(1))
    assert similarity(a, b) < 0.1 and classify(similarity(a, b)) == "distinct"
    assert not shares_a_bucket(a, b)


def test_different_seed_articles_are_distinct() -> None:
    fps = [fingerprint(seed(n)) for n in range(len(SEEDS))]
    for a, b in itertools.combinations(fps, 2):
        assert classify(similarity(a, b)) == "distinct"


def test_the_sample_sites_articles_are_distinct_from_each_other(pages: dict[str, str]) -> None:
    fps = {path: fingerprint(text) for path, text in pages.items()}
    assert len(fps) >= 21
    for (pa, a), (pb, b) in itertools.combinations(fps.items(), 2):
        assert similarity(a, b) < 0.15, (pa, pb)
        assert classify(similarity(a, b)) == "distinct"


# --- short texts ---------------------------------------------------------------------------


def test_short_texts_match_only_exactly() -> None:
    headline = "Rocket attack on US forces in Iraq may derail withdrawal talks, officials say"
    assert len(words(headline)) < MIN_WORDS
    a = fingerprint(headline)
    b = fingerprint(headline.replace("may", "could"))
    assert a.short and b.short and a.signature == () and bands(a) == ()
    assert similarity(a, b) == 0.0 and classify(similarity(a, b)) == "distinct"
    assert similarity(a, fingerprint(headline.upper() + "!")) == 1.0  # the exact copy
    assert similarity(a, fingerprint(seed(1))) == 0.0


def test_a_text_of_min_words_has_a_signature() -> None:
    text = " ".join(f"w{i}" for i in range(MIN_WORDS))
    assert not fingerprint(text).short
    assert fingerprint(" ".join(f"w{i}" for i in range(MIN_WORDS - 1))).short


def test_empty_texts_match_nothing() -> None:
    empty = fingerprint("  — ")
    assert empty.words == 0 and empty.short
    assert similarity(empty, fingerprint("")) == 0.0


@pytest.mark.parametrize(("sim", "nearness"), [
    (1.0, "duplicate"), (DUPLICATE, "duplicate"), (DUPLICATE - 0.01, "edit"), (EDIT, "edit"),
    (EDIT - 0.01, "distinct"), (0.0, "distinct"),
])
def test_classify_thresholds(sim: float, nearness: str) -> None:
    assert classify(sim) == nearness
