"""The kernel round trip papermill has: nbclient's transport, ZeroMQ straight to the kernel
(jupyter_client), no server in between. Sequential executions of one trivial statement,
each timed from sending execute_request to having both the reply and the idle status.

    python bench/zmq_roundtrip.py CELLS

Prints one JSON object: {"ms": [per execution]}.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel

WARMUP = 5


def main() -> None:
    cells = int(sys.argv[1])
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        times = []
        for i in range(WARMUP + cells):
            t0 = time.perf_counter()
            msg_id = kc.execute(f"x = {i}", allow_stdin=False, stop_on_error=True)
            reply = kc.get_shell_msg(timeout=30)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = kc.get_shell_msg(timeout=30)
            while True:
                msg = kc.get_iopub_msg(timeout=30)
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    break
            if i >= WARMUP:
                times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"ms": times}))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


main()
