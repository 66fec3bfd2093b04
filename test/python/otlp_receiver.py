"""An OTLP/HTTP trace receiver for the tracing test (test/e2e/tracing.test.ts).

It decodes what the gateway exports with the OpenTelemetry project's own protobuf
definitions (the opentelemetry-proto package, pinned in requirements.txt), so a body that
is not a valid ExportTraceServiceRequest fails here as it would in a collector. It keeps
every span it received and gives them back as JSON:

  POST /v1/traces   application/x-protobuf ExportTraceServiceRequest; answers an empty
                    ExportTraceServiceResponse (anything else: 415 or 400, counted)
  GET  /spans       {"spans": [...], "rejected": N}: each span with its trace and span ids
                    in hex, its parent's, name, kind (SERVER, CLIENT, INTERNAL...),
                    attributes, status and the resource's service.name

Usage: otlp_receiver.py PORT (127.0.0.1 only). Prints "listening" once it accepts requests.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

lock = threading.Lock()
received: list[dict[str, Any]] = []
rejected = 0


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def span_of(span: Span, service: Any) -> dict[str, Any]:
    return {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "parentSpanId": span.parent_span_id.hex(),
        "name": span.name,
        "kind": Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
        "attributes": {kv.key: value_of(kv.value) for kv in span.attributes},
        "status": Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
        "service": service,
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # quiet: the test reads /spans

    def answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status: int, why: str) -> None:
        global rejected
        with lock:
            rejected += 1
        self.answer(status, "text/plain", why.encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces":
            return self.refuse(404, "only /v1/traces")
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.refuse(415, "OTLP protobuf only")
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as err:
            return self.refuse(400, f"not an ExportTraceServiceRequest: {err}")
        spans = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [span_of(s, resource.get("service.name")) for s in scope_spans.spans]
        with lock:
            received.extend(spans)
        self.answer(200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString())

    def do_GET(self) -> None:
        if self.path != "/spans":
            return self.answer(404, "text/plain", b"only /spans")
        with lock:
            body = json.dumps({"spans": received, "rejected": rejected}).encode()
        self.answer(200, "application/json", body)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
