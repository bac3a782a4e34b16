# Copyright 2026 The gpuvirt-nova Authors
#
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""A loopback WSGI server that never starves its process's green threads.

Where eventlet has patched the process (Nova's services and their test
fixtures do), a server thread is a green thread, and socketserver's own
loop polls through the ``selectors`` module bound before the patch: a
blocking poll that never yields, so the green thread that talks to the
server never runs again. This loop looks ``select.select`` up at each
turn (green once patched) and stops through a plain flag.
"""

import select
import socketserver
import threading
import time
from wsgiref import simple_server


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        """No access log on the caller's stderr."""


class LoopbackServer(simple_server.WSGIServer):
    """WSGIServer whose ``serve_forever`` yields and ``shutdown`` waits."""

    def server_activate(self):
        super().server_activate()
        self._stopping = False
        self._running = False

    def serve_forever(self, poll_interval=0.2):
        self._running = True
        try:
            while not self._stopping:
                ready, _, _ = select.select([self], [], [], poll_interval)
                if ready and not self._stopping:
                    self._handle_request_noblock()
        finally:
            self._running = False

    def shutdown(self):
        self._stopping = True
        while self._running:
            time.sleep(0.05)


class ThreadingLoopbackServer(socketserver.ThreadingMixIn, LoopbackServer):
    """A LoopbackServer that answers each connection in its own thread."""

    daemon_threads = True


def serve(app, host='127.0.0.1', port=0, threaded=False):
    """Serve ``app`` on ``host:port`` in a daemon thread; the server.

    ``threaded``: answer concurrent clients at once (a thread per
    connection) instead of one request after the other.
    """
    server = simple_server.make_server(
        host, port, app, handler_class=QuietHandler,
        server_class=ThreadingLoopbackServer if threaded else LoopbackServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.thread = thread
    return server
