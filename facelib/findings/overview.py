"""The dashboard overview's content: the findings in words, each network's removable share under both
score forms with its interval and verdict, and the tables, as text ready to show.

``content()`` computes it from ``results/`` (the findings modules: claims, verdicts, summary, about a
second with their imports, torch among them); ``python -m facelib report`` records it in
``results/overview.json`` with a digest of what it was computed from (every table in the results folder
and the findings' code), and ``recorded()`` returns it while that digest still holds, reading no more
than the JSON file and the digest's inputs, so the dashboard's first page opens without computing.

    >>> shown = recorded() or content()
    >>> shown["headline"][0]["metrics"][0]["value"]      # a share as text, such as "34%"
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from facelib import io
from facelib.study import layout

RECORD = "overview.json"
# The code the content is computed by, beside the tables: a changed claim changes the digest too.
CODE = [Path(__file__).parent / f"{name}.py" for name in ("claims", "verdicts", "summary", "tables", "pretrained",
                                                          "analysis", "overview")] \
    + [layout.ROOT / "facelib" / "study" / "recorded.py"]


def digest(results: Path | None = None) -> str:
    """SHA-1 of every table in the results folder (CSV and JSON files but the record itself) and of the
    findings' code."""
    results = results or layout.results_dir()
    h = hashlib.sha1()
    files = sorted(p for p in results.rglob("*") if p.suffix in (".csv", ".json") and p.name != RECORD)
    for path, name in [*((p, p.relative_to(results)) for p in files), *((p, p.relative_to(layout.ROOT)) for p in CODE)]:
        h.update(str(name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def recorded() -> dict | None:
    """The recorded content, or None where there is none or the results or code changed since."""
    path = layout.results_dir() / RECORD
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved["content"] if saved.get("digest") == digest() else None


def record() -> Path:
    """Compute the content and record it with its digest (``python -m facelib report``)."""
    path = layout.results_dir() / RECORD
    # not io.save_json, which sorts keys: the tables' columns keep their order
    io.save_text(json.dumps({"digest": digest(), "content": content()}, indent=1), path)
    return path


def content() -> dict:
    """The overview, computed from the results tables: ``findings`` (in words, a Markdown list), ``headline``
    (per network, a metric per score form: share, its range and verdict, and what it means), ``papers``
    (the papers' shares in a sentence), ``removable``, ``verdicts`` and ``pretrained`` (table rows),
    ``details`` (what explains each verdict, as list items)."""
    from facelib.findings import claims, pretrained, summary, tables, verdicts  # the slow part: see the docstring

    rows = claims.removable_rows()
    judged = {(v["network"], v["score_form"]): v for v in verdicts.removable_verdicts()}
    every = verdicts.all_verdicts()
    return {"findings": summary.as_list(), "headline": headline(rows, judged), "papers": papers_sentence(judged),
            "removable": tables.removable_table(rows), "verdicts": tables.verdicts_table(every),
            "details": [f"- **{r['claim'][:2]} {r['network']}{', ' * bool(r['score_form'])}{r['score_form']}**: "
                        f"{r['detail']}" for r in every if r["detail"]],
            "pretrained": tables.pretrained_table(pretrained.summary())}


def headline(rows: list[dict], judged: dict) -> list[dict]:
    """Per network, a metric per score form: the share of trunk parameters removable at <= 1 point
    (fine-tuned), its [at least, at most] range and its verdict against the papers."""
    out = []
    for arch in dict.fromkeys(r["network"] for r in rows):
        metrics = []
        for r in (r for r in rows if r["network"] == arch):
            share, verdict = r["params_finetuned"], judged.get((arch, r["score_form"]))
            spread = f"[{share.low:.0%}, {share.high:.0%}]" if share.low == share.low else "no interval recorded"
            said, papers = (f" · {verdict['verdict']}", verdict["papers"]) if verdict else ("", "none")
            metrics.append({"label": f"{arch}, {r['score_form']}", "value": f"{share.share:.0%}",
                            "delta": f"{spread}{said}",
                            "help": "the share of the trunk's parameters removed at the last fine-tuned step within "
                                    "1 point of the unpruned EER, [at least, at most] as the 95 % intervals allow, "
                                    f"and the verdict against the papers' share ({papers})"})
        out.append({"network": arch, "metrics": metrics})
    return out


def papers_sentence(judged: dict) -> str:
    """The papers' removable shares, each with the networks it is for."""
    papers: dict[str, list[str]] = {}
    for (arch, _), v in judged.items():
        if arch not in papers.setdefault(v["papers"], []):
            papers[v["papers"]].append(arch)
    return ("The papers: " + "; ".join(f"{said} for {', '.join(archs)}" for said, archs in papers.items())
            + ". Verdicts by the 95 % intervals: agree or disagree only where the whole interval lies on one side.")
