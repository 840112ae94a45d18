"""The language model for the model server: llama.cpp's own server (xllamacpp), in this process.

``handle_chat_completions`` runs llama.cpp's OpenAI chat handler directly (chat template from the
GGUF, slots, prompt-prefix cache, speculative decoding) without HTTP. xllamacpp's Server nevertheless
always starts llama.cpp's HTTP listener as well: by default on 127.0.0.1 at a random port with no API
key (completions, and /slots showing other callers' prompts, to any local process). An empty host list
crashes it, so the listener is moved to a Unix socket in a private 0700 directory, with a random API
key, the web UI and the slots/metrics endpoints off: no TCP port is opened at all. That socket
serves one thing here: llama.cpp's ``/apply-template``, the chat template rendered exactly as the
chat handler renders it, for requests that continue the final message (``continue_final``).
docs/offline-models.md has the measurements behind the defaults.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from infra.model_server import packaged

if TYPE_CHECKING:
    import xllamacpp

ChunkHandler = Callable[[dict[str, Any]], bool]
# llama.cpp logs every request at INFO; warnings and errors are enough for a server.
_LOG_VERBOSITY = 1


class SlotAffinity:
    """Keeps each conversation on one llama.cpp slot, so its next turn finds its prompt cached.

    llama.cpp picks the slot whose cached prompt shares the longest prefix with the new one. Every
    call starts with the same instructions, so a new call looks similar to any call in progress and
    takes over its slot, throwing away that call's history (measured: the next turn of the evicted
    call re-evaluated ~80 tokens instead of ~20). Pinning a conversation key (OpenAI's
    ``prompt_cache_key``, or ``user``) to a slot avoids that; when there are more conversations
    than slots, the one idle longest gives up its slot."""

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._owners: OrderedDict[str, int] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def slot_for(self, key: str) -> int:
        with self._lock:
            if key in self._owners:
                self._owners.move_to_end(key)
                return self._owners[key]
            taken = set(self._owners.values())
            free = [slot for slot in range(self._slots) if slot not in taken]
            slot = free[0] if free else self._owners.popitem(last=False)[1]
            self._owners[key] = slot
            return slot


class LlamaEngine:
    """One llama.cpp model with ``parallel`` slots shared by every request of the server process."""

    def __init__(
        self,
        model: str,
        n_ctx: int = 4096,
        threads: int = 1,
        batch_threads: int = 2,
        parallel: int = 2,
        draft_model: str | None = None,
        model_id: str | None = None,
        *,
        draft_max: int = 8,
        draft_threads: int | None = None,
        n_batch: int = 512,
        n_ubatch: int = 512,
        flash_attn: bool | None = None,
        cache_reuse: int = 0,
    ) -> None:
        """``model``: a packaged model's name (``packaged.PACKAGED_LLMS``) or a GGUF path; ``n_ctx`` is
        shared by the ``parallel`` slots; ``threads`` generate, ``batch_threads`` evaluate prompts;
        ``draft_model`` (same vocabulary) enables speculative decoding; ``flash_attn`` None = auto;
        ``cache_reuse`` > 0: reuse cached chunks of at least that many tokens after the common prefix by
        shifting them (llama.cpp's ``--cache-reuse``), so a conversation whose oldest turns were dropped
        does not re-read the turns it kept."""
        if parallel < 1 or n_ctx < 256 * parallel:
            raise ValueError("parallel must be ≥ 1 with at least 256 tokens of context per slot")
        self._model = model
        self._model_id = model_id or Path(model).name.removesuffix(".gguf")
        self._n_ctx = n_ctx
        self._threads = threads
        self._batch_threads = batch_threads
        self._parallel = parallel
        self._draft_model = draft_model
        self._draft_max = draft_max
        self._draft_threads = draft_threads or threads
        self._n_batch = n_batch
        self._n_ubatch = n_ubatch
        self._flash_attn = flash_attn
        self._cache_reuse = cache_reuse
        self._affinity = SlotAffinity(parallel)
        self._server: xllamacpp.Server | None = None
        self._socket_dir: str | None = None
        self._socket_key = secrets.token_urlsafe(32)
        self._socket_client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the last request finishes
        self._running = 0
        self._closed = False

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def parallel(self) -> int:
        return self._parallel

    def load(self) -> None:
        """Load the model (and the draft model) once; later and concurrent calls wait for it."""
        if self._server is not None:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the language model engine is closed")
            if self._server is not None:
                return
            import xllamacpp

            params = self._params(xllamacpp)
            try:
                self._server = xllamacpp.Server(params)
            except RuntimeError as exc:
                self._remove_socket_dir()
                raise packaged.ModelFileError(f"llama.cpp could not load {self._model!r}: {exc}") from exc

    def _params(self, xlc: Any) -> Any:
        model_path = packaged.llm_path(self._model)  # ModelFileError names the package or the bad path
        draft_path = packaged.llm_path(self._draft_model) if self._draft_model else None
        params = xlc.CommonParams()
        params.model.path = str(model_path)
        params.model_alias = {self._model_id}  # the "model" field of every response
        params.n_ctx = self._n_ctx
        params.n_parallel = self._parallel
        params.n_batch = self._n_batch
        params.n_ubatch = self._n_ubatch
        params.cpuparams.n_threads = self._threads
        params.cpuparams_batch.n_threads = self._batch_threads
        params.cache_prompt = True  # a turn re-evaluates only what follows the common prefix
        params.n_cache_reuse = self._cache_reuse
        params.verbosity = _LOG_VERBOSITY
        if self._flash_attn is not None:
            fa = xlc.llama_flash_attn_type
            params.flash_attn_type = (
                fa.LLAMA_FLASH_ATTN_TYPE_ENABLED if self._flash_attn else fa.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
        if draft_path is not None:
            params.speculative.types = [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
            params.speculative.draft.mparams.path = str(draft_path)
            params.speculative.draft.n_max = self._draft_max
            params.speculative.draft.cpuparams.n_threads = self._draft_threads
            params.speculative.draft.cpuparams_batch.n_threads = self._batch_threads
        # The HTTP listener xllamacpp always starts: a Unix socket only this user can reach.
        self._socket_dir = tempfile.mkdtemp(prefix="voicecall-llama-")
        params.hostnames = [str(Path(self._socket_dir) / "llama.sock")]
        params.api_keys = [self._socket_key]
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.n_threads_http = 1
        return params

    @contextlib.contextmanager
    def _serving(self) -> Iterator[xllamacpp.Server]:
        """The loaded server, counted as in use so that ``close`` waits for the request."""
        self.load()
        with self._lock:
            if self._server is None:
                raise RuntimeError("the language model engine is closed")
            server = self._server
            self._running += 1
        try:
            yield server
        finally:
            with self._lock:
                self._running -= 1
                self._idle.notify_all()

    def _with_slot(self, request: dict[str, Any]) -> dict[str, Any]:
        # OpenAI's own field for "these requests share a cached prefix", else the older ``user``
        key = request.get("prompt_cache_key") or request.get("user")
        if not isinstance(key, str) or not key or "id_slot" in request:
            return request
        return {**request, "id_slot": self._affinity.slot_for(key)}

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI chat completion (``stream`` is ignored; ``user`` keeps a conversation on its
        slot, see ``SlotAffinity``). A request llama.cpp rejects gives
        ``{"error": {"code", "message", "type"}}`` rather than an exception."""
        body = {**self._with_slot(request), "stream": False}
        with self._serving() as server:
            try:
                result: dict[str, Any] = server.handle_chat_completions(body)
            except ValueError as exc:  # llama.cpp's std::invalid_argument: the request is malformed
                return _error(400, str(exc))
        return _as_openai_error(result)

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI text completion (``/v1/completions``), with OpenAI's ``logprobs`` shape (tokens,
        token_logprobs, top_logprobs as token → logprob, text_offset) when ``n_probs`` is asked.
        ``user`` / ``prompt_cache_key`` keep a caller's requests on one slot, as for chat."""
        result = self._complete(request)
        for choice in result.get("choices", []):
            choice["logprobs"] = _legacy_logprobs(choice.get("logprobs")) if "n_probs" in request else None
        return result

    def continue_final(self, request: dict[str, Any]) -> dict[str, Any]:
        """A chat completion that goes on with the final message instead of answering it (vLLM's
        ``continue_final_message``): the conversation rendered by the model's chat template up to the
        end of that message's text, then completed as text on the conversation's slot. The prompt is
        the conversation's own prefix, so what this reads is in the cache for the reply that follows:
        the worker's turn detector asks "does the caller's sentence end here?" this way. A chat
        completion comes back (what follows as the assistant's message, as vLLM answers; chat-style
        ``logprobs``)."""
        messages = request["messages"]
        text = _text_of(messages[-1].get("content"))
        if not text:
            return _error(400, "continue_final_message: the final message has no text to continue")
        rendered = self._render(messages)
        if "error" in rendered:
            return rendered
        prompt: str = rendered["prompt"]
        end = prompt.rfind(text)
        if end < 0:
            return _error(400, "continue_final_message: the chat template changes the final message's text")
        body: dict[str, Any] = {
            key: request[key]
            for key in ("temperature", "top_p", "stop", "seed", "prompt_cache_key", "user", "id_slot")
            if key in request
        }
        body.update(prompt=prompt[: end + len(text)], n_predict=request.get("max_tokens", 16))
        if request.get("logprobs"):
            body["n_probs"] = max(1, int(request.get("top_logprobs") or 1))
        result = self._complete(body)
        if "error" in result:
            return result
        choices = [
            {
                "index": choice.get("index", 0),
                "message": {"role": "assistant", "content": choice.get("text", "")},
                "logprobs": choice.get("logprobs") if "n_probs" in body else None,
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in result.get("choices", [])
        ]
        return {**result, "object": "chat.completion", "choices": choices}

    def _complete(self, request: dict[str, Any]) -> dict[str, Any]:
        body = {**self._with_slot(request), "stream": False}
        with self._serving() as server:
            try:
                result: dict[str, Any] = server.handle_completions(body)
            except ValueError as exc:
                return _error(400, str(exc))
        return _as_openai_error(result)

    def _render(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The chat template applied by llama.cpp itself (its ``/apply-template``, on the private
        socket), without the assistant's prompt: ``{"prompt": ...}`` or an OpenAI error."""
        with self._serving():
            client = self._socket()
            try:
                body = {"messages": messages, "add_generation_prompt": False}
                reply = client.post("/apply-template", json=body)
            except httpx.HTTPError as exc:
                return _error(500, f"the chat template could not be applied: {exc}")
        if reply.status_code >= 400:
            return _as_openai_error(reply.json()) if _is_json(reply) else _error(400, reply.text[:500])
        rendered: dict[str, Any] = reply.json()
        return rendered

    def _socket(self) -> httpx.Client:
        with self._lock:
            if self._socket_client is None:
                if self._socket_dir is None:
                    raise RuntimeError("the language model engine is closed")
                sock = str(Path(self._socket_dir) / "llama.sock")
                self._socket_client = httpx.Client(
                    transport=httpx.HTTPTransport(uds=sock),
                    base_url="http://llama.cpp",
                    headers={"Authorization": f"Bearer {self._socket_key}"},
                    timeout=10.0,
                )
            return self._socket_client

    def chat_stream(self, request: dict[str, Any], on_chunk: ChunkHandler) -> None:
        """Stream the completion's chunks (OpenAI's ``chat.completion.chunk`` dicts; the last carries
        ``timings``, and ``usage`` when ``stream_options.include_usage``) to ``on_chunk`` until it
        returns True: the generation then stops and its slot is free at once. Blocks until done. A
        rejected request is one ``{"error": ...}`` chunk."""
        body = {**self._with_slot(copy.deepcopy(request)), "stream": True}
        failure: list[BaseException] = []

        def deliver(chunk: dict[str, Any]) -> bool:
            # an exception must not unwind through llama.cpp's C++ frames: stop, re-raise after
            try:
                return bool(on_chunk(_as_openai_error(chunk))) or self._closed
            except BaseException as exc:
                failure.append(exc)
                return True

        with self._serving() as server:
            try:
                server.handle_chat_completions(body, deliver)
            except ValueError as exc:  # rejected before the first chunk: reported like llama.cpp's errors
                deliver(_error(400, str(exc)))
        if failure:
            raise failure[0]

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop streams at their next token, wait (up to ``timeout_s``) for requests in progress, then
        stop llama.cpp's loop and free the model: freeing it under a running request would crash the
        process. Later requests raise RuntimeError; safe to call twice."""
        with self._lock:
            self._closed = True
            self._idle.wait_for(lambda: self._running == 0, timeout_s)
            if self._running:
                return  # still busy (a long non-streamed answer): leave it to process exit
            server, self._server = self._server, None
            if self._socket_client is not None:
                self._socket_client.close()
                self._socket_client = None
            del server  # the C++ destructor ends the main loop and the listener
            self._remove_socket_dir()

    def _remove_socket_dir(self) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


def _legacy_logprobs(logprobs: dict[str, Any] | None) -> dict[str, Any] | None:
    """llama.cpp's per-token ``{"content": [{token, logprob, top_logprobs}]}`` as OpenAI's completions
    API gives it: parallel lists, the alternatives as one ``{token: logprob}`` map per position."""
    if not logprobs or not isinstance(logprobs.get("content"), list):
        return None
    tokens: list[str] = []
    token_logprobs: list[float] = []
    top: list[dict[str, float]] = []
    offsets: list[int] = []
    offset = 0
    for entry in logprobs["content"]:
        tokens.append(entry["token"])
        token_logprobs.append(entry["logprob"])
        alternatives: dict[str, float] = {}
        for alt in entry.get("top_logprobs", []):
            alternatives.setdefault(alt["token"], alt["logprob"])
        top.append(alternatives)
        offsets.append(offset)
        offset += len(entry["token"])
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top, "text_offset": offsets}


def _text_of(content: Any) -> str:
    """A message's text: the string, or its text parts in order (a template that joins parts with
    something between them does not keep this text, and the request is a 400 saying so)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _is_json(reply: httpx.Response) -> bool:
    return reply.headers.get("content-type", "").startswith("application/json")


def _error(code: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if code < 500 else "server_error"
    return {"error": {"code": code, "message": message, "type": kind}}


def _as_openai_error(result: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp's handler reports some failures as a bare ``{"code", "message", "type"}``: wrap it in
    OpenAI's ``{"error": {...}}`` so callers check one shape."""
    if "error" not in result and "message" in result and "code" in result and "choices" not in result:
        return {"error": result}
    return result
