"""Page layouts of the benchmark corpus: an article's body wrapped in a news site's boilerplate.

Four layouts, as found on real news sites: 0 semantic (``<article>``, ``<aside>``, comments
section), 1 div soup (class names only, ads and "read also" boxes between the paragraphs),
2 live page (short timed posts, a cookie banner, a newsletter box), 3 compact (JSON-LD and Open
Graph metadata, little chrome). Each carries navigation, related links and 2-60 KB of inline
script, a strip of trending cards, a grid of more stories and a footer site map with social
icons; all but the compact one a mega menu with hundreds of links. Pages weigh 25-180 KB (median
~87 KB) and hold 350-2,200 elements (median ~1,450), like real ones. Nine pages in ten name
their reporter in a byline and in their meta tags (and JSON-LD), as 21 of the sample site's 23
real pages do.

Calibrated against the issue's measurement on real news pages (trafilatura 12-19 ms of CPU a
page, 68 pages/s on one core): ``trafilatura.extract`` with its defaults takes a median of
~12 ms and a mean of ~14 ms on these pages (200 of a 2,000-article corpus, 2026-11-21).
"""

from __future__ import annotations

import html
import json
import random
from typing import Protocol

_NAV = ("Home", "Iraq", "Syria", "Kurdistan", "Middle East", "World", "Business", "Economy",
        "Energy", "Sport", "Opinion", "Culture", "Health", "Technology", "Video", "Podcasts",
        "Newsletters", "Weather", "Obituaries", "Travel", "Science", "Education", "Jobs")
_FOOT = ("About us", "Contact", "Advertise", "Careers", "Privacy policy", "Terms of use",
         "Cookie settings", "Corrections", "Ethics", "RSS feeds", "Sitemap", "Archive",
         "Accessibility", "Help centre", "Subscribe", "Manage account", "Apps")


class _Article(Protocol):
    index: int
    title: str
    paragraphs: tuple[str, ...]
    layout: int
    path: str

    @property
    def summary(self) -> str: ...

    @property
    def published(self): ...  # type: ignore[no-untyped-def]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_REPORTERS = ("Sara Haddad", "Ahmad Rashid", "John Dawes", "Lina Mahmud", "Karim Azzawi",
              "Emma Colbert", "Omar Salihi", "Dilan Sirwani", "Mark Keeling", "Rana Abboud",
              "Hiwa Jamali", "Paula Idris", "Shelley Kent", "Ali Hasnawi", "Mina Darwish")
# invented names: the bench's Markov-made text is nobody's reporting
_SOCIAL = ("Facebook", "X", "Instagram", "YouTube", "Telegram", "WhatsApp", "TikTok")


def author(rng: random.Random) -> str:
    """The reporter a page names, or "" (about one page in ten names none, as 2 of the sample
    site's 23 real pages)."""
    return "" if rng.random() < 0.1 else rng.choice(_REPORTERS)


def _icon(name: str) -> str:
    return (f'<a class="social-{name.lower()}" href="#" aria-label="{name}">'
            '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2C6.5 2 2 6.5 2 12s4.5 10 '
            '10 10 10-4.5 10-10S17.5 2 12 2z"/><path d="M9 8h6v8H9z"/></svg></a>')


def _sitemap(base: str, rng: random.Random) -> str:
    """The footer's site map: a column of links per section, and the social icons."""
    columns = []
    for name in _NAV[:rng.randint(5, 12)]:
        slug = name.lower().replace(" ", "-")
        links = "".join(f'<li><a href="{base}/{slug}/{n}/">{_e(name)} {n}</a></li>'
                        for n in range(rng.randint(6, 14)))
        columns.append(f'<div class="footer-col"><h4>{_e(name)}</h4><ul>{links}</ul></div>')
    icons = "".join(_icon(n) for n in _SOCIAL)
    return f'<div class="footer-sitemap">{"".join(columns)}</div><div class="follow">{icons}</div>'


def _teasers(base: str, related: list[tuple[str, str]], count: int
             ) -> list[tuple[int, str, str]]:
    """``count`` teasers (position, title, URL), going round the related articles."""
    return [(k, *(related[k % len(related)] if related else ("Latest", base + "/")))
            for k in range(count)]


def _grid(base: str, related: list[tuple[str, str]], rng: random.Random, heading: str) -> str:
    """A "more stories" grid of cards with images, kickers and times."""
    cards = []
    for k, t, u in _teasers(base, related, rng.randint(8, 24)):
        cards.append(f'<div class="grid-item"><article class="teaser"><a href="{_e(u)}">'
                     f'<picture><source srcset="{base}/img/g{k}.webp" type="image/webp">'
                     f'<img src="{base}/img/g{k}.jpg" alt="" loading="lazy"></picture></a>'
                     f'<div class="teaser-body"><span class="kicker">{_e(_NAV[k % len(_NAV)])}'
                     f'</span><h3><a href="{_e(u)}">{_e(t)}</a></h3><div class="meta"><span>'
                     f'{k + 1} hours ago</span></div></div></article></div>')
    return f'<section class="more-stories"><h2>{heading}</h2>{"".join(cards)}</section>'


def _links(base: str, names: tuple[str, ...], rng: random.Random, cls: str) -> str:
    chosen = names[:rng.randint(8, len(names))]
    items = "".join(f'<li><a href="{base}/{n.lower().replace(" ", "-")}/">{_e(n)}</a></li>'
                    for n in chosen)
    return f'<ul class="{cls}">{items}</ul>'


def _script(rng: random.Random) -> str:
    size = int(rng.choice((4, 8, 16, 32, 64, 96)) * 1024 * rng.uniform(0.6, 1.0))
    chunks, total, n = [], 0, 0
    while total < size:
        token = rng.randbytes(24).hex()
        chunk = f'w.__d{n}={{"k":"{token}","v":[{n},{n * 7 % 13},"{token[:8]}"]}};'
        chunks.append(chunk)
        total += len(chunk)
        n += 1
    return f"<script>(function(w){{{''.join(chunks)}}})(window);</script>"


def _chrome(base: str, related: list[tuple[str, str]], rng: random.Random) -> tuple[str, str]:
    """A mega menu and a trending strip: the hundreds to thousands of elements around a real
    article (menus with icons and promos, cards with lazy images)."""
    sections = []
    for k, name in enumerate(_NAV[:rng.randint(8, len(_NAV))]):
        slug = name.lower().replace(" ", "-")
        subs = "".join(
            f'<li class="sub-item"><a href="{base}/{slug}/{n}/" data-track="nav-{k}-{n}">'
            f'<span class="icon"><svg viewBox="0 0 16 16" aria-hidden="true"><use href="#i{n}"/>'
            f'</svg></span><span class="label">{_e(name)} {n}</span></a></li>'
            for n in range(rng.randint(4, 14)))
        sections.append(f'<li class="menu-item has-children"><a href="{base}/{slug}/">{_e(name)}'
                        f'</a><div class="mega"><ul class="sub">{subs}</ul></div></li>')
    menu = f'<div class="mega-menu" hidden><ul>{"".join(sections)}</ul></div>'
    cards = []
    for k, t, u in _teasers(base, related, rng.randint(4, 16)):
        cards.append(f'<div class="card"><a class="card-link" href="{_e(u)}"><div class="thumb">'
                     f'<img src="{base}/img/t{k}.jpg" data-src="{base}/img/t{k}@2x.jpg" '
                     f'loading="lazy" alt=""></div><div class="card-body"><span class="kicker">'
                     f'Trending</span><h4>{_e(t)}</h4><span class="time">{k * 3 + 2} min</span>'
                     "</div></a></div>")
    return menu, f'<section class="trending"><h3>Trending</h3>{"".join(cards)}</section>'


def _related(related: list[tuple[str, str]], cls: str, heading: str) -> str:
    items = "".join(f'<li><a href="{_e(u)}">{_e(t)}</a></li>' for t, u in related)
    return f'<section class="{cls}"><h3>{heading}</h3><ul>{items}</ul></section>'


def _comments(comments: list[str], rng: random.Random) -> str:
    if not comments:
        return ""
    items = "".join(
        f'<div class="comment" id="c{k}"><div class="comment-meta"><span class="author">'
        f'reader{rng.randint(10, 9999)}</span> <span class="ago">{rng.randint(1, 59)} min ago'
        f'</span></div><p>{_e(c)}</p><a class="reply" href="#c{k}">Reply</a></div>'
        for k, c in enumerate(comments))
    return (f'<section id="comments" class="comments"><h3>Comments ({len(comments)})</h3>'
            f'{items}<form class="comment-form"><textarea name="c"></textarea>'
            f'<button>Post comment</button></form></section>')


def _head(a: _Article, outlet: str, base: str, rng: random.Random, *, jsonld: bool,
          writer: str) -> str:
    url = base + a.path
    meta = (f'<meta charset="utf-8"><title>{_e(a.title)} | {_e(outlet)}</title>'
            f'<meta name="description" content="{_e(a.summary)}">'
            f'<link rel="canonical" href="{_e(url)}">'
            f'<meta property="og:title" content="{_e(a.title)}">'
            f'<meta property="og:site_name" content="{_e(outlet)}">'
            f'<meta property="og:url" content="{_e(url)}">'
            f'<meta property="article:published_time" content="{a.published.isoformat()}">')
    if writer:
        meta += (f'<meta name="author" content="{_e(writer)}">'
                 f'<meta property="article:author" content="{_e(writer)}">')
    if jsonld:
        doc = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": a.title,
               "datePublished": a.published.isoformat(), "url": url,
               "publisher": {"@type": "Organization", "name": outlet}}
        if writer:
            doc["author"] = {"@type": "Person", "name": writer}
        meta += f'<script type="application/ld+json">{json.dumps(doc)}</script>'
    style = "body{margin:0;font-family:sans-serif}" * rng.randint(1, 40)
    return f"<!DOCTYPE html><html lang=\"en\"><head>{meta}<style>{style}</style></head>"


def render(a: _Article, outlet: str, base: str, related: list[tuple[str, str]],
           comments: list[str], rng: random.Random) -> str:
    """The page of article ``a`` on ``outlet`` (served at ``base``)."""
    when = a.published
    stamp = f'<time datetime="{when.isoformat()}">{when:%d %B %Y %H:%M}</time>'
    paras = [f"<p>{_e(p)}</p>" for p in a.paragraphs]
    nav = _links(base, _NAV, rng, "menu")
    writer = author(rng)
    by = f'<span class="author">By {_e(writer)}</span> ' if writer else ""
    foot = f'<footer class="site-footer">{_sitemap(base, rng)}' \
           f'{_links(base, _FOOT, rng, "footer-links")}' \
           f'<p class="copy">© 2026 {_e(outlet)}. All rights reserved.</p></footer>'
    share = ('<div class="share">Share: <a href="#">Facebook</a> <a href="#">X</a> '
             '<a href="#">WhatsApp</a> <a href="#">Telegram</a> <a href="#">Email</a></div>')
    menu, trending = _chrome(base, related, rng)
    nav = menu + nav
    foot = trending + _grid(base, related, rng, "More stories") + foot
    layout = a.layout
    if layout == 0:
        body = (f'<header class="site-header"><a class="logo" href="{base}/">{_e(outlet)}</a>'
                f'<nav class="main-nav">{nav}</nav></header><main>'
                f'<nav class="breadcrumb"><a href="{base}/">Home</a> › <a href="{base}/iraq/">'
                f'Iraq</a></nav><article class="article"><h1>{_e(a.title)}</h1>'
                f'<div class="byline">{by}{stamp}</div>'
                f'<figure><img src="{base}/img/{a.index}.jpg" alt=""><figcaption>File photo.'
                f' Photo: {_e(outlet)}</figcaption></figure>'
                f'<div class="article-body">{"".join(paras)}</div>{share}</article>'
                f'{_comments(comments, rng)}</main>'
                f'<aside class="sidebar">{_related(related[:5], "most-read", "Most read")}'
                f'</aside>{_related(related[3:], "related", "Related articles")}{foot}')
    elif layout == 1:
        mixed = []
        for k, p in enumerate(paras):
            mixed.append(p)
            if k % 4 == 2:
                mixed.append('<div class="ad-slot"><span>Advertisement</span>'
                             f'<div id="ad-{k}"></div></div>')
            if k % 6 == 4 and related:
                t, u = related[k % len(related)]
                mixed.append(f'<div class="read-also">Read also: <a href="{_e(u)}">{_e(t)}</a>'
                             "</div>")
        body = (f'<div id="wrapper"><div class="top-menu">{nav}</div><div class="cols">'
                f'<div class="content"><div class="post"><h2 class="post-title">{_e(a.title)}'
                f'</h2><span class="date">{by}{stamp}</span><div class="entry">{"".join(mixed)}'
                f'</div><div class="tags">Tags: <a href="#">Iraq</a> <a href="#">News</a>'
                f'</div>{share}{_comments(comments, rng)}</div></div>'
                f'<div class="widget">{_related(related, "latest", "Latest news")}</div>'
                f'</div>{foot}</div>')
    elif layout == 2:
        posts = "".join(
            f'<div class="live-post"><span class="ts">{(k * 7) % 60:02d} min ago</span>{p}'
            "</div>" for k, p in enumerate(paras))
        body = ('<div class="cookie-banner">We use cookies to improve your experience. '
                '<button>Accept all</button> <button>Settings</button></div>'
                f'<header><nav>{nav}</nav></header><main><article class="live">'
                f'<h1>{_e(a.title)}</h1><p class="updated">{by}Updated {stamp}</p>'
                f'<div class="live-feed">{posts}</div></article>'
                '<div class="newsletter"><h3>Get our morning briefing</h3><form><input '
                'type="email" placeholder="Your email"><button>Sign up</button></form></div>'
                f'{_related(related, "more", "More on this story")}</main>{foot}')
    else:
        body = (f'<header><a href="{base}/">{_e(outlet)}</a></header><main><article>'
                f'<h1>{_e(a.title)}</h1>{by}{stamp}{"".join(paras)}</article>'
                f'{_related(related[:4], "related", "Related")}</main>{foot}')
    script = _script(rng)
    head = _head(a, outlet, base, rng, jsonld=layout in (0, 3), writer=writer)
    return f"{head}<body>{script}{body}</body></html>"
