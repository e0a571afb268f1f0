"""standin.py - how the test stand-ins (pcs_server.py, kds_server.py) run once their server is
made: exit at once on SIGTERM/SIGINT, and on stdin EOF when asked (so that they die with their
parent), then print the bound port as stdout's first line and serve."""
import os
import signal
import sys
import threading


def serve(srv, exit_on_stdin_eof):
    def stop(signum, frame):
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    sys.stdout.write('%d\n' % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()
