"""ChatClient against a real local OpenAI-compatible server (tests/fake_llm.py): protocol, streaming, retries.

Usage: `python -m pytest tests/test_llm.py -q`
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.fake_llm import FakeLLM, drop_after, error_chunk, fail, hang, reply
from vidseek.analyze.llm import ChatClient, LLMError, _lines, _sse_data
from vidseek.settings import Settings

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "hello world"}]
ECHO = "echo: hello world"


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def make_client() -> Iterator[Callable[..., ChatClient]]:
    """`make_client(url, **kwargs)`: a ChatClient with test-sized timeouts and backoff, closed afterwards."""
    clients: list[ChatClient] = []

    def make(url: str, **kwargs: object) -> ChatClient:
        options: dict = {"timeout": 2.0, "retries": 3, "backoff": 0.01, **kwargs}
        clients.append(ChatClient(url, "fake-model", **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


# protocol -----------------------------------------------------------------------------------------


def test_complete_sends_an_openai_request_and_returns_the_content(fake: FakeLLM, make_client) -> None:
    assert make_client(fake.url).complete(MESSAGES, temperature=0, max_tokens=50) == ECHO
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.json == {
        "model": "fake-model",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": 50,
        "stream": False,
    }
    assert "authorization" not in request.headers


def test_api_key_is_sent_as_bearer_token(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url + "/", api_key="sk-test")  # a trailing slash is fine
    client.complete(MESSAGES)
    assert "".join(client.stream(MESSAGES)) == ECHO
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer sk-test"] * 2
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"] * 2


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("quirks", [False, True], ids=["plain", "quirks"])
def test_stream_yields_deltas_that_join_to_the_reply(make_client, crlf: bool, quirks: bool) -> None:
    with FakeLLM(crlf=crlf, quirks=quirks, chunk_size=4) as fake:
        deltas = list(make_client(fake.url).stream(MESSAGES))
    assert "".join(deltas) == ECHO
    assert len(deltas) == 5 and all(deltas)  # role-only, empty and null deltas are skipped
    assert fake.requests[0].json["stream"] is True


def test_stream_delivers_text_as_it_arrives(fake: FakeLLM, make_client) -> None:
    fake.script(reply("abcdefghijklmno", delay=0.2))  # 5 chunks of 3, 0.2 s apart
    start = time.monotonic()
    stream = make_client(fake.url).stream(MESSAGES)
    assert next(stream) == "abc"
    first = time.monotonic() - start
    assert "".join(stream) == "defghijklmno"
    assert first < 0.2 and time.monotonic() - start >= 0.8


def test_stream_can_be_abandoned_and_the_client_reused(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url)
    for delta in client.stream(MESSAGES):
        assert delta == "ech"
        break
    assert client.complete(MESSAGES) == ECHO


def test_vision_content_parts_pass_through_unchanged(fake: FakeLLM, make_client) -> None:
    image = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ=="
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is shown?"}, {"type": "image_url", "image_url": {"url": image}}],
        }
    ]
    assert make_client(fake.url).complete(messages) == "echo: what is shown?"
    assert fake.requests[0].json["messages"] == messages


def test_sse_parsing_splits_lines_only_at_cr_and_lf() -> None:
    raw = [b'data: {"a":\r', b"\ndata: 1}\r", b"\r\n: comment\nid: 7\ndata: x\xe2\x80\xa8y\r\rdata: [DONE]\n\n"]
    assert list(_sse_data(_lines(raw))) == ['{"a":\n1}', "x\u2028y", "[DONE]"]


def test_parallel_requests_share_one_client(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url)
    results: dict[int, str] = {}

    def ask(n: int) -> None:
        results[n] = "".join(client.stream([{"role": "user", "content": f"question {n}"}]))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {n: f"echo: question {n}" for n in range(8)}


# retries and errors -------------------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff(fake: FakeLLM, make_client) -> None:
    fake.script(fail(503), fail(503))
    start = time.monotonic()
    assert make_client(fake.url, backoff=0.05).complete(MESSAGES) == ECHO
    assert len(fake.requests) == 3
    assert time.monotonic() - start >= 0.025 + 0.05  # jittered pauses: at least half of 0.05 * 2**attempt
    fake.script(fail(502), fail(500))
    assert "".join(make_client(fake.url).stream(MESSAGES)) == ECHO
    assert len(fake.requests) == 6


def test_gives_up_after_the_retries_with_the_last_error(fake: FakeLLM, make_client) -> None:
    fake.script(*[fail(500, {"error": {"message": "CUDA out of memory"}})] * 3)
    with pytest.raises(LLMError, match="HTTP 500: CUDA out of memory.*gave up after 3 attempts") as caught:
        make_client(fake.url, retries=2).complete(MESSAGES)
    assert caught.value.status == 500 and caught.value.endpoint == fake.url + "/chat/completions"
    assert len(fake.requests) == 3


def test_retry_after_is_honoured_and_capped(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url, backoff=0.001)
    fake.script(fail(429, retry_after=1))
    start = time.monotonic()
    assert client.complete(MESSAGES) == ECHO
    assert time.monotonic() - start >= 0.95
    client.max_wait = 0.2
    fake.script(fail(429, retry_after=3600))
    start = time.monotonic()
    assert client.complete(MESSAGES) == ECHO
    assert 0.19 <= time.monotonic() - start < 2
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": {"message": "Incorrect API key provided"}},
            r"HTTP 401: Incorrect API key.*VIDSEEK_LLM_API_KEY",
        ),
        (404, {"error": 'model "qwen9" not found, try pulling it first'}, r'HTTP 404: model "qwen9" not found.*pull'),
        (400, {"object": "error", "message": "context length exceeded"}, r"HTTP 400: context length exceeded"),
    ],
    ids=["openai-401", "ollama-404", "vllm-400"],
)
def test_client_errors_fail_at_once_with_the_servers_message(
    fake: FakeLLM, make_client, status: int, body: dict, expected: str
) -> None:
    client = make_client(fake.url)
    fake.script(fail(status, body), fail(status, body))
    with pytest.raises(LLMError, match=expected) as caught:
        client.complete(MESSAGES)
    assert caught.value.status == status and fake.url in str(caught.value)
    with pytest.raises(LLMError, match=expected):
        list(client.stream(MESSAGES))
    assert len(fake.requests) == 2


def test_read_timeout_is_retried_then_names_the_endpoint_and_timeout(fake: FakeLLM, make_client) -> None:
    fake.script(hang(3), hang(3))
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"did not answer within the 0.3 s timeout.*VIDSEEK_LLM_TIMEOUT") as caught:
        make_client(fake.url, timeout=0.3, retries=1).complete(MESSAGES)
    assert fake.url + "/chat/completions" in str(caught.value)
    assert len(fake.requests) == 2 and time.monotonic() - start < 2
    fake.script(hang(3))
    assert "".join(make_client(fake.url, timeout=0.3).stream(MESSAGES)) == ECHO
    assert len(fake.requests) == 4


def test_complete_has_a_total_deadline(fake: FakeLLM, make_client) -> None:
    fake.script(reply("x" * 300, delay=0.1))  # bytes keep coming, but the whole body takes ~2 s
    with pytest.raises(LLMError, match="did not finish answering within the 0.5 s timeout"):
        make_client(fake.url, timeout=0.5, retries=0).complete(MESSAGES)


def test_broken_stream_is_not_retried_once_text_was_yielded(fake: FakeLLM, make_client) -> None:
    fake.script(drop_after(2))
    deltas: list[str] = []
    with pytest.raises(LLMError, match=r"stream from the LLM at .* broke after 6 characters"):
        for delta in make_client(fake.url).stream(MESSAGES):
            deltas.append(delta)
    assert deltas == ["ech", "o: "] and len(fake.requests) == 1


def test_stream_stalling_mid_answer_is_not_retried(fake: FakeLLM, make_client) -> None:
    fake.script(reply("abcdef", delay=2))
    with pytest.raises(LLMError, match="broke after 3 characters.*did not answer within"):
        list(make_client(fake.url, timeout=0.3).stream(MESSAGES))
    assert len(fake.requests) == 1


def test_broken_response_before_any_text_is_retried(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url)
    fake.script(drop_after(0))
    assert "".join(client.stream(MESSAGES)) == ECHO  # dropped after the role chunk: nothing shown yet
    fake.script(drop_after(1))
    assert client.complete(MESSAGES) == ECHO  # dropped mid-body
    assert len(fake.requests) == 4


def test_error_event_in_the_stream_raises(fake: FakeLLM, make_client) -> None:
    fake.script(error_chunk("the model crashed", after=1))
    with pytest.raises(LLMError, match="error mid-stream: the model crashed"):
        list(make_client(fake.url).stream(MESSAGES))


def test_unreachable_server_fails_after_retries(make_client) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with pytest.raises(LLMError, match=r"cannot reach the LLM at .*127\.0\.0\.1.*gave up after 3 attempts") as caught:
        make_client(url, retries=2).complete(MESSAGES)
    assert "VIDSEEK_LLM_BASE_URL" in str(caught.value)
    with pytest.raises(LLMError, match="cannot reach"):
        list(make_client(url, retries=0).stream(MESSAGES))


def test_base_url_must_be_http() -> None:
    with pytest.raises(LLMError, match="not an http"):
        ChatClient("localhost:11434/v1", "m")


# settings -----------------------------------------------------------------------------------------


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLM_BASE_URL", "LLM_API_KEY", "VLM_BASE_URL", "VLM_API_KEY"):
        monkeypatch.delenv(f"VIDSEEK_{name}", raising=False)
    model = Settings.model_fields["llm_model"].default
    assert model == "qwen2.5:7b-instruct"
    assert ChatClient.from_settings(Settings()) is None
    assert ChatClient.vision_from_settings(Settings()) is None
    settings = Settings(
        llm_base_url="http://gpu:8000/v1", llm_api_key="k", llm_timeout=5, llm_retries=1, vlm_base_url="http://vl/v1"
    )
    with ChatClient.from_settings(settings) as llm:  # type: ignore[union-attr]
        assert (llm.url, llm.model, llm.timeout, llm.retries) == ("http://gpu:8000/v1/chat/completions", model, 5, 1)
    with ChatClient.vision_from_settings(settings) as vlm:  # type: ignore[union-attr]
        assert (vlm.base_url, vlm.model, vlm.settings_prefix) == ("http://vl/v1", "qwen2.5vl:3b", "VIDSEEK_VLM")
        assert vlm._http.headers["authorization"] == "Bearer k"


# structured output and sampling -------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def test_temperature_is_sent_unless_the_call_sets_its_own(fake: FakeLLM, make_client) -> None:
    client = make_client(fake.url, temperature=0.0)
    client.complete(MESSAGES)
    client.complete(MESSAGES, temperature=0.7)
    list(client.stream(MESSAGES))
    assert [r.json["temperature"] for r in fake.requests] == [0.0, 0.7, 0.0]
    assert "temperature" not in _sent(make_client(fake.url), fake)  # no setting: the server's default


def _sent(client: ChatClient, fake: FakeLLM) -> dict:
    client.complete(MESSAGES)
    return fake.requests[-1].json


def test_settings_temperature_defaults_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSEEK_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert ChatClient.from_settings(Settings()).temperature == 0.0
    monkeypatch.setenv("VIDSEEK_LLM_TEMPERATURE", "0.4")
    assert ChatClient.from_settings(Settings()).temperature == 0.4


def test_structured_output_takes_json_schema_where_the_server_does(make_client) -> None:
    with FakeLLM(reply=lambda r: '{"a": 1}') as fake:
        text, style = make_client(fake.url).complete_json(MESSAGES, SCHEMA, "thing")
        assert (text, style) == ('{"a": 1}', "json_schema")
        fmt = fake.requests[0].json["response_format"]
        assert fmt == {"type": "json_schema", "json_schema": {"name": "thing", "schema": SCHEMA}}


def test_structured_output_falls_back_to_llama_cpp_spelling_and_remembers_it(make_client) -> None:
    with FakeLLM(reply=lambda r: '{"a": 2}', response_formats=("json_object+schema",)) as fake:
        client = make_client(fake.url)
        started = time.monotonic()
        assert client.complete_json(MESSAGES, SCHEMA) == ('{"a": 2}', "json_object+schema")
        assert time.monotonic() - started < 1.0  # the refused spelling is not retried with backoff
        assert [r.json["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_object"]
        assert fake.requests[1].json["response_format"]["schema"] == SCHEMA
        fresh = make_client(fake.url)  # another client of the same endpoint, as a server keeps one per endpoint
        assert fresh.structured_style == "json_object+schema"
        fresh.complete_json(MESSAGES, SCHEMA)
        assert len(fake.requests) == 3 and "schema" in fake.requests[2].json["response_format"]


def test_structured_output_ends_with_the_prompt_alone(make_client) -> None:
    with FakeLLM(reply=lambda r: '{"a": 3}', response_formats=()) as fake:
        assert make_client(fake.url).complete_json(MESSAGES, SCHEMA) == ('{"a": 3}', "none")
        assert "response_format" not in fake.requests[-1].json
        assert len(fake.requests) == 4


def test_structured_output_does_not_hide_other_errors(fake: FakeLLM, make_client) -> None:
    fake.script(fail(401, {"error": {"message": "bad key"}}))
    with pytest.raises(LLMError, match="401"):
        make_client(fake.url).complete_json(MESSAGES, SCHEMA)
    assert len(fake.requests) == 1
