#!/usr/bin/env python3
"""The user's app, for the webhook tests: receives what Keyward delivers and checks it
with the `standardwebhooks` library, as an app would.

    receiver.py [--port 0] [--secret whsec_... ...] [--now UNIX] [--exit-on-stdin-eof] [--verbose]

Binds 127.0.0.1 (port 0 = ephemeral) and prints `{"port": N}` as one JSON line on stdout.

A POST to any path (other than the control endpoints below) is a delivery. It is verified
with `standardwebhooks.webhooks.Webhook(secret).verify(body, headers)` for each secret in
turn. When none accepts it (no secret configured, missing or bad headers, a timestamp more
than 5 minutes away from the receiver's clock, no matching signature) it is answered 400
and counted in `rejected`. A verified delivery is answered 200 and recorded in `received`,
or, while a failure is injected (`/_fail`), answered with that status and recorded in
`failures` (counted in `failed`) instead. Rejections do not use up an injected failure.

Control endpoints (JSON):
    GET  /_received  {"received": [record...], "rejected": N, "failed": N,
                      "failures": [record...], "rejections": [{"path", "reason", "headers"}...]}
                     record = {"webhook_id", "timestamp" (int), "signature",
                               "provider" (x-keyward-provider), "event_id" (x-keyward-event-id),
                               "endpoint" (x-keyward-endpoint), "attempt" (x-keyward-attempt,
                               int when numeric), "path", "body", "headers" (lowercased names),
                               "status" (what it was answered)}; absent headers are null
    POST /_fail      {"status": 503, "count": K, "retry_after": S?}: the next K verified
                     deliveries get `status` (K = -1: until told otherwise); {"status": 200}
                     or {"count": 0} turns it off
    POST /_delay     {"ms": N}: wait N ms before answering each delivery (0: off)
    POST /_secrets   {"secrets": ["whsec_...", ...]}: replaces the secrets
    POST /_clock     {"now": UNIX | null}: verify timestamps against this fixed time (for a
                     Keyward on a manual clock) or, with null, against the real clock
    POST /_reset     clears the logs, counters, injected failure and delay (not the secrets
                     or the clock)

The clock: the library checks the timestamp against `datetime.now()` with a fixed
tolerance of 5 minutes and takes no clock argument, so `--now` and `/_clock` replace the
`datetime` the library's module uses with one whose `now()` answers the fixed time; the
signature check itself is the library's, untouched. selftest.py checks this still works.

With --exit-on-stdin-eof the receiver exits when its stdin closes, so it never outlives
the test process that holds the other end.
"""

import argparse
import datetime as _datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as standardwebhooks_module
from standardwebhooks.webhooks import Webhook


class _LibraryClock(_datetime.datetime):
    """What `datetime` means inside standardwebhooks.webhooks: the real one, except that
    `now()` answers `fixed` (unix seconds) when it is set."""

    fixed = None

    @classmethod
    def now(cls, tz=None):
        fixed = cls.fixed
        if fixed is None:
            return _datetime.datetime.now(tz)
        return _datetime.datetime.fromtimestamp(fixed, tz)


standardwebhooks_module.datetime = _LibraryClock


class State:
    def __init__(self, secrets):
        self.lock = threading.Lock()
        self.secrets = list(secrets)
        self.reset()

    def reset(self):
        self.received = []
        self.failures = []
        self.rejections = []
        self.fail_status = 200
        self.fail_count = 0
        self.retry_after = None
        self.delay_ms = 0

    def snapshot(self):
        return {
            "received": list(self.received),
            "rejected": len(self.rejections),
            "failed": len(self.failures),
            "failures": list(self.failures),
            "rejections": list(self.rejections),
        }

    def take_failure(self):
        """The status to answer a verified delivery with (and a Retry-After, or None)."""
        if self.fail_count == 0 or self.fail_status == 200:
            return 200, None
        if self.fail_count > 0:
            self.fail_count -= 1
        return self.fail_status, self.retry_after


def verify(secrets, body, headers):
    """None when one of the secrets verifies the delivery, else why not."""
    if not secrets:
        return "the receiver has no secret"
    reasons = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return None
        except Exception as err:  # the library raises several kinds on malformed input
            reasons.append(f"{type(err).__name__}: {err}")
    return "; ".join(reasons)


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keyward-test-receiver"
    state: State
    verbose = False

    def log_message(self, format, *args):
        if self.verbose:
            sys.stderr.write("receiver: " + (format % args) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, value, extra_headers=()):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, val in extra_headers:
            self.send_header(name, val)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_received":
            with self.state.lock:
                snapshot = self.state.snapshot()
            self.reply(200, snapshot)
        else:
            self.reply(404, {"error": "deliveries are POSTs; GET /_received for the log"})

    def do_POST(self):
        body = self.read_body()
        control = {
            "/_fail": self.control_fail,
            "/_delay": self.control_delay,
            "/_secrets": self.control_secrets,
            "/_clock": self.control_clock,
            "/_reset": self.control_reset,
        }.get(self.path)
        if control is not None:
            try:
                args = json.loads(body or b"{}")
                if not isinstance(args, dict):
                    raise ValueError("not a JSON object")
                control(args)
            except (ValueError, TypeError) as err:
                self.reply(400, {"error": f"{self.path}: {err}"})
                return
            self.reply(200, {"ok": True})
            return
        self.delivery(body)

    def delivery(self, body):
        headers = {}
        for name, value in self.headers.items():
            headers[name.lower()] = value
        with self.state.lock:
            secrets = list(self.state.secrets)
            delay_ms = self.state.delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as err:
            text, reason = None, f"the body is not UTF-8: {err}"
        else:
            reason = verify(secrets, body, headers)
        if reason is not None:
            with self.state.lock:
                self.state.rejections.append({"path": self.path, "reason": reason, "headers": headers})
            self.reply(400, {"error": "signature verification failed", "reason": reason})
            return
        record = {
            "webhook_id": headers.get("webhook-id"),
            "timestamp": as_int(headers.get("webhook-timestamp")),
            "signature": headers.get("webhook-signature"),
            "provider": headers.get("x-keyward-provider"),
            "event_id": headers.get("x-keyward-event-id"),
            "endpoint": headers.get("x-keyward-endpoint"),
            "attempt": as_int(headers.get("x-keyward-attempt")),
            "path": self.path,
            "body": text,
            "headers": headers,
        }
        with self.state.lock:
            status, retry_after = self.state.take_failure()
            record["status"] = status
            (self.state.received if status == 200 else self.state.failures).append(record)
        extra = [("Retry-After", str(retry_after))] if retry_after is not None else []
        if status == 200:
            self.reply(200, {"ok": True})
        else:
            self.reply(status, {"error": "injected failure"}, extra)

    def control_fail(self, args):
        status = int(args.get("status", 503))
        count = int(args.get("count", 1))
        retry_after = args.get("retry_after")
        if not 100 <= status <= 599 or count < -1:
            raise ValueError("status must be 100..599 and count -1 or more")
        with self.state.lock:
            self.state.fail_status = status
            self.state.fail_count = count
            self.state.retry_after = None if retry_after is None else int(retry_after)

    def control_delay(self, args):
        ms = int(args.get("ms", 0))
        if ms < 0:
            raise ValueError("ms must be 0 or more")
        with self.state.lock:
            self.state.delay_ms = ms

    def control_secrets(self, args):
        secrets = args.get("secrets")
        if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
            raise ValueError("secrets must be a list of strings")
        for secret in secrets:
            Webhook(secret)  # a secret the library cannot load is the caller's mistake
        with self.state.lock:
            self.state.secrets = secrets

    def control_clock(self, args):
        now = args.get("now")
        _LibraryClock.fixed = None if now is None else int(now)

    def control_reset(self, args):
        with self.state.lock:
            self.state.reset()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of concurrent deliveries on a busy
    # machine would see connections reset before the accept loop gets to them.
    request_queue_size = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", action="append", default=[], help="whsec_… (repeatable)")
    parser.add_argument("--now", type=int, default=None, help="fixed unix time for timestamp checks")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = parser.parse_args()

    for secret in args.secret:
        Webhook(secret)
    _LibraryClock.fixed = args.now
    Handler.state = State(args.secret)
    Handler.verbose = args.verbose

    server = Server(("127.0.0.1", args.port), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)

    if args.exit_on_stdin_eof:

        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
