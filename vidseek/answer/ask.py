"""Ask the library: a short answer whose every claim cites moments, by an LLM or extractively.

Usage::

    asker = Asker.from_settings(engine.tenant(), engine.settings)     # LLM if VIDSEEK_LLM_BASE_URL is set
    answer = asker.ask("When does the night ferry leave pier seven?")
    print(answer.text)                                                # "... at nine [1][2][3]. ..."
    for c in answer.citations: print(c.n, c.name, c.start, c.end)
    for event in asker.stream("..."): ...                             # plan, citations, delta..., done

Stream events (the server sends them as SSE):
    {"type": "plan", "plan": {...}}                   how the question was read
    {"type": "citations", "citations": [...]}         the candidate sources; deltas cite these numbers
    {"type": "delta", "text": "..."}                  answer text as it is written (invalid [n] already removed)
    {"type": "reset", "reason": "..."}                the LLM failed mid-way: drop the deltas so far
    {"type": "done", "answer": {...}}                 `Answer.to_dict()`: checked text, citations renumbered 1..k
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from vidseek.answer.evidence import Citation, fit_budget, gather
from vidseek.answer.extractive import NOT_FOUND, answer_extractive
from vidseek.answer.prompt import CitationFilter, build_messages, check_citations, citation_numbers, renumber
from vidseek.answer.understand import Plan, default_routes, step_plan, understand
from vidseek.errors import QueryError

if TYPE_CHECKING:
    from vidseek.analyze.llm import ChatClient
    from vidseek.answer.source import Library
    from vidseek.settings import Settings

MAX_QUESTION = 2000  # characters
Events = Generator[dict, None, Any]


@dataclass
class Answer:
    """A finished answer. `citations` are only the cited sources, numbered 1..k in order of first use.

    Usage: `answer = asker.ask(q); print(answer.text); json.dumps(answer.to_dict())`."""

    question: str
    text: str
    citations: list[Citation]
    mode: str  # "llm" | "extractive"
    plan: Plan
    found: bool
    steps: list[dict[str, Any]] = field(default_factory=list)  # multi-hop: question, search, found, text
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """question, text, found, mode, citations [Citation.to_dict()], steps, notes, seconds, plan [Plan.to_dict()]."""
        return {"question": self.question, "text": self.text, "found": self.found, "mode": self.mode,
                "citations": [c.to_dict() for c in self.citations], "steps": self.steps, "notes": self.notes,
                "seconds": round(self.seconds, 3), "plan": self.plan.to_dict()}


@dataclass
class _Draft:
    text: str
    candidates: list[Citation]
    mode: str
    notes: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


class Asker:
    """Answers questions from one tenant's libraries. `client=None` answers extractively.

    Usage: `Asker(engine.tenant(), engine.settings).ask("When does the ferry leave?").text`."""

    def __init__(self, tenant: Library, settings: Settings, client: ChatClient | None = None):
        self.tenant = tenant
        self.settings = settings
        self.client = client

    @classmethod
    def from_settings(cls, tenant: Library, settings: Settings, use_llm: bool = True) -> Asker:
        """An Asker with the LLM from `settings` (none when `llm_base_url` is unset or `use_llm` is False)."""
        from vidseek.analyze.llm import ChatClient

        return cls(tenant, settings, ChatClient.from_settings(settings) if use_llm else None)

    def ask(self, question: str, where: dict[str, Any] | None = None) -> Answer:
        """The answer to `question`; `where` adds Search.where filters (e.g. {"library_id": 2})."""
        run = self._run(question, where)
        while True:
            try:
                next(run)
            except StopIteration as stop:
                return stop.value

    def stream(self, question: str, where: dict[str, Any] | None = None) -> Iterator[dict]:
        """The events of answering `question` (see module doc), ending with "done"."""
        answer = yield from self._run(question, where)
        yield {"type": "done", "answer": answer.to_dict()}

    # one question ---------------------------------------------------------------------------------
    def _run(self, question: str, where: dict[str, Any] | None) -> Events:
        t0 = time.perf_counter()
        question = (question or "").strip()
        if not question:
            raise QueryError("the question is empty: ask something about the videos in the library")
        if len(question) > MAX_QUESTION:
            raise QueryError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION})")
        plan = understand(question, self.tenant, self.client, routes=default_routes(self.settings),
                          plan_policy=self.settings.llm_plan)
        if where:
            plan.filters.update({k: v for k, v in where.items() if v is not None})
            plan.trace.append(f"filters from the caller: {where}")
        yield {"type": "plan", "plan": plan.to_dict()}
        if len(plan.steps) > 1:
            draft = yield from self._multi_hop(plan)
        else:
            candidates = gather(self.tenant, plan, self.settings, trace=plan.trace)
            yield {"type": "citations", "citations": [c.to_dict() for c in candidates]}
            draft = yield from self._write(plan.question, plan, candidates)
        return self._finish(plan, draft, time.perf_counter() - t0)

    def _write(self, question: str, plan: Plan, candidates: list[Citation], findings: Sequence[str] = ()) -> Events:
        """Write the answer over `candidates`, streaming deltas; returns a _Draft (text cites candidate numbers)."""
        extract = answer_extractive(plan.search_text, candidates, self._cutoff(plan), plan.reply_language,
                                    plan.expects)
        if self.client is None or not candidates:
            yield {"type": "delta", "text": extract.text}
            return _Draft(extract.text, candidates, "extractive")
        from vidseek.analyze.llm import LLMError

        messages = build_messages(question, candidates, plan.reply_language, findings)
        shown = CitationFilter(c.n for c in candidates)
        parts: list[str] = []
        try:
            for delta in self.client.stream(messages, temperature=self.settings.llm_temperature):
                parts.append(delta)
                text = shown.feed(delta)
                if text:
                    yield {"type": "delta", "text": text}
            rest = shown.flush()
            if rest:
                yield {"type": "delta", "text": rest}
        except LLMError as exc:
            note = f"the LLM failed, so this is the extractive answer ({exc})"
            plan.trace.append(note)
            yield {"type": "reset", "reason": note}
            yield {"type": "delta", "text": extract.text}
            return _Draft(extract.text, candidates, "extractive", [note])
        text = "".join(parts).strip()
        if not text:
            note = "the LLM answered nothing, so this is the extractive answer"
            yield {"type": "reset", "reason": note}
            yield {"type": "delta", "text": extract.text}
            return _Draft(extract.text, candidates, "extractive", [note])
        return _Draft(text, candidates, "llm")

    def _finish(self, plan: Plan, draft: _Draft, seconds: float) -> Answer:
        """Check the citations, keep only the cited sources and renumber them 1..k in order of first use."""
        text, used = check_citations(draft.text, draft.candidates)
        notes = [*plan.notes, *draft.notes]
        bad = [n for n in citation_numbers(draft.text) if n not in {c.n for c in draft.candidates}]
        if bad:
            notes.append(f"removed citation(s) {bad}: not among the sources")
        mapping = {old: new for new, old in enumerate(used, 1)}
        by_n = {c.n: c for c in draft.candidates}
        cited = [replace(by_n[old], n=new) for old, new in mapping.items()]
        text = re.sub(r"[ \t]+\n", "\n", renumber(text, mapping)).strip()
        if draft.mode == "llm" and text and not used:
            plan.trace.append("the LLM's answer cites no source")
        return Answer(plan.question, text, cited, draft.mode, plan, found=bool(used), steps=draft.steps,
                      notes=notes, seconds=seconds)

    # multi-hop -------------------------------------------------------------------------------------
    def _multi_hop(self, plan: Plan) -> Events:
        """Answer each step from the library in order (a step may use the previous answer's words), then
        answer the whole question over all the steps' sources."""
        steps: list[dict[str, Any]] = []
        per_step: list[tuple[Plan, list[Citation]]] = []
        notes: list[str] = []
        previous: str | None = None
        for i, step in enumerate(plan.steps):
            sp = step_plan(plan, step, previous, self.settings.min_score)
            cits = gather(self.tenant, sp, self.settings, trace=sp.trace)
            plan.trace += sp.trace
            extract = answer_extractive(sp.search_text, cits, self._cutoff(sp), sp.reply_language, sp.expects)
            text = extract.text if extract.found else None
            claim = extract.answer.best.text if extract.answer else ""
            if self.client is not None and cits and i < len(plan.steps) - 1:
                text, note = self._step_with_llm(step, sp, cits, text)
                notes += [note] if note else []
                claim = _plain(text) if text else ""
            steps.append({"question": step, "search": sp.search_text, "found": text is not None,
                          "text": _plain(text) if text else NOT_FOUND.get(sp.reply_language, NOT_FOUND["en"])})
            per_step.append((sp, cits))
            previous = f"{step} {claim}"
        candidates, subsets = self._union([cits for _, cits in per_step])
        yield {"type": "citations", "citations": [c.to_dict() for c in candidates]}
        if self.client is not None and candidates:
            draft = yield from self._write(plan.question, plan, candidates, [s["text"] for s in steps[:-1]])
            if draft.mode == "llm":  # the last step is answered by the whole answer
                steps[-1].update(found=bool(citation_numbers(draft.text)), text=_plain(draft.text))
        else:
            lines = []
            for k, ((sp, _), subset) in enumerate(zip(per_step, subsets), 1):
                extract = answer_extractive(sp.search_text, subset, self._cutoff(sp), sp.reply_language,
                                            sp.expects)
                colon = "：" if sp.reply_language == "zh" else ":"
                lines.append(f"{k}. {sp.question.rstrip(' ?？')}{colon} {extract.text}")
            draft = _Draft("\n".join(lines), candidates, "extractive")
            yield {"type": "delta", "text": draft.text}
        draft.steps, draft.notes = steps, notes + draft.notes
        return draft

    def _cutoff(self, plan: Plan) -> float:
        return self.settings.min_score if plan.min_score is None else plan.min_score

    def _step_with_llm(self, step: str, sp: Plan, cits: list[Citation], fallback: str | None) -> tuple[str | None, str]:
        from vidseek.analyze.llm import LLMError

        try:
            reply = self.client.complete(build_messages(step, cits, sp.reply_language),
                                         temperature=self.settings.llm_temperature)
            text, used = check_citations(reply, cits)
        except LLMError as exc:
            return fallback, f"the LLM failed on step {step!r}; used the extractive answer ({exc})"
        return (text if used else None), ""

    def _union(self, lists: list[list[Citation]]) -> tuple[list[Citation], list[list[Citation]]]:
        """All steps' citations as one numbered list (a moment found by two steps once), and each step's share."""
        union: list[Citation] = []
        subsets: list[list[Citation]] = []
        for cits in lists:
            mine = []
            for c in cits:
                same = next((u for u in union if u.video_id == c.video_id and u.start <= c.end and c.start <= u.end),
                            None)
                if same is None:
                    same = replace(c)
                    union.append(same)
                if not any(m is same for m in mine):
                    mine.append(same)
            subsets.append(mine)
        union.sort(key=lambda c: -c.score)
        kept = fit_budget(union, self.settings.llm_max_context_tokens)
        return kept, [[c for c in subset if any(c is k for k in kept)] for subset in subsets]


def _plain(text: str) -> str:
    """An answer without its citation marks (they number another list)."""
    return re.sub(r"\s*\[\d+\]", "", text).strip()
