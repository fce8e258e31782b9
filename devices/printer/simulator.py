"""A receipt printer's raw port on 127.0.0.1, for tests and the demo.

    with PrinterSimulator() as sim:
        ReceiptPrinter("127.0.0.1", sim.port).print_receipt(receipt)
        sim.printed[-1].qr           # the digital receipt's url

One background thread serves one connection at a time (as a printer does): it answers
``DLE EOT`` status requests as they arrive and, when the client closes its side, parses the job
with ``parse_escpos`` and appends what came out of the printer to ``printed`` (garbage shows in
``PrintedReceipt.rejected``). Connections that carry no printing (a status check) add nothing.

Fault knobs, settable at any time: ``offline = True`` closes the listening socket (connections
are refused) until set back to False; ``paper_out = True`` reports no paper and throws jobs
away (counted in ``dropped_jobs``), as a printer with an empty roll prints nothing; ``slow_s``
waits that long before each read and each status answer.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import select
import socket
import threading

from devices.printer.parse import (
    Command,
    PrintedReceipt,
    StatusRequest,
    parse_escpos,
    read_back,
)
from devices.printer.protocol import (
    PaperStatus,
    encode_paper_status,
)

__all__ = ["PrintedReceipt", "PrinterSimulator", "main"]

from devices.simkit import stop_requested

log = logging.getLogger(__name__)

_POLL_S = 0.05
_IDLE_LIMIT_S = 10.0  # a client that sends nothing for this long loses its job
_PRINTER_STATUS = b"\x16"  # DLE EOT 1/2/3: online, no error (fixed bits only)


class PrinterSimulator:
    """An ESC/POS printer listening on ``host`` (a free port unless ``port`` is given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.paper_out = False
        self.slow_s = 0.0
        self.printed: list[PrintedReceipt] = []
        self.dropped_jobs = 0
        self.connections = 0
        self._listener: socket.socket | None = self._listen(port)
        self._port: int = self._listener.getsockname()[1]
        self._want_offline = False
        self._state = threading.Condition()
        self._requested = 0
        self._applied = 0
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"printer-sim-{self._port}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._port

    @property
    def offline(self) -> bool:
        return self._want_offline

    @offline.setter
    def offline(self, value: bool) -> None:
        # The serving thread owns the listener; wait until it has applied the change.
        with self._state:
            self._want_offline = value
            self._requested += 1
            wanted = self._requested
            self._state.wait_for(lambda: self._applied >= wanted, timeout=2.0)

    def wait_printed(self, count: int, timeout_s: float = 3.0) -> list[PrintedReceipt]:
        """``printed`` once it holds ``count`` jobs (or whatever it holds at the deadline)."""
        with self._state:
            self._state.wait_for(lambda: len(self.printed) >= count, timeout=timeout_s)
            return list(self.printed)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> PrinterSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the serving thread --------------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        return sock

    def _apply_state(self) -> None:
        with self._state:
            if self._want_offline and self._listener is not None:
                self._listener.close()
                self._listener = None
            elif not self._want_offline and self._listener is None:
                self._listener = self._listen(self._port)
            self._applied = self._requested
            self._state.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._apply_state()
            except OSError:
                log.exception("printer sim: cannot listen on port %d again", self._port)
                self._stop.wait(0.5)
                continue
            listener = self._listener
            if listener is None:
                self._stop.wait(_POLL_S)
                continue
            ready, _, _ = select.select([listener], [], [], _POLL_S)
            if not ready:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL_S)
        job = b""
        answered = 0
        idle = 0.0
        while not self._stop.is_set():
            if self.slow_s and self._stop.wait(self.slow_s):
                return
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                idle += _POLL_S
                if idle >= _IDLE_LIMIT_S:
                    log.info("printer sim: client went quiet, job abandoned")
                    return
                continue
            except OSError:
                chunk = b""  # reset by the client: the job ends here, maybe cut short
            idle = 0.0
            if not chunk:
                break
            job += chunk
            commands = parse_escpos(job)
            requests = [c for c in commands if isinstance(c, StatusRequest)]
            for request in requests[answered:]:
                self._answer(conn, request)
            answered = len(requests)
        if not self._stop.is_set():
            self._finish(parse_escpos(job))

    def _answer(self, conn: socket.socket, request: StatusRequest) -> None:
        if self.slow_s and self._stop.wait(self.slow_s):
            return
        if request.n == 4:
            paper = PaperStatus.OUT if self.paper_out else PaperStatus.PRESENT
            reply = encode_paper_status(paper)
        else:
            reply = _PRINTER_STATUS
        with contextlib.suppress(OSError):
            conn.sendall(reply)

    def _finish(self, commands: list[Command]) -> None:
        if all(isinstance(c, StatusRequest) for c in commands):
            return  # a status check, or an empty connection
        if self.paper_out:
            with self._state:
                self.dropped_jobs += 1
            log.info("printer sim %d: out of paper, job dropped", self._port)
            return
        receipt = read_back(commands)
        with self._state:
            self.printed.append(receipt)
            self._state.notify_all()
        log.info(
            "printer sim %d: printed %d lines, QR %s, cut=%s",
            self._port,
            len(receipt.lines),
            receipt.qr_codes,
            receipt.cut,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devices.printer.simulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--paper-out", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds before each read")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sim = PrinterSimulator(args.host, args.port)
    sim.paper_out = args.paper_out
    sim.slow_s = args.slow
    print(sim.port, flush=True)
    stop = stop_requested()
    try:
        stop.wait()
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
