# The Spark session of a job wrapped by `millrace wrap` (a PySpark script, or a .sql job on
# the spark or spark-connect engine). One session per run: app name = the run's id, master
# from the connection (local[*], spark://, k8s://, yarn) or Spark Connect (sc://). Each cell's
# Spark jobs are tagged with the cell's execute request, so an interrupted cell (millrace
# interrupts the kernel when a run is cancelled) cancels its own jobs. The session is stopped
# by a script's last cell, else when the kernel exits (an atexit hook; ipykernel's shutdown
# also terminates the JVM, whose shutdown hook stops the context): whatever the outcome.
import atexit as _atexit
import os as _os
import re as _re


def _millrace_run_id():
    """The run's id, from the message id millrace gives each execute request
    (millrace-<run>-c<cell>-r<revision>, or -replay<n>-c<cell> when a resume replays);
    None outside millrace (a notebook run by another Jupyter tool)."""
    try:
        msg_id = get_ipython().kernel.get_parent("shell")["header"]["msg_id"]
    except Exception:
        return None
    m = _re.match(r"^millrace-(.+?)(?:-replay\d+)?-c\d+(?:-r\d+)?$", msg_id or "")
    return m.group(1) if m else None


def _millrace_argv(job, argv):
    """sys.argv for a script: its name, then the argv parameter (a list, or one string split
    like a shell command line; None: no arguments)."""
    import shlex

    if argv is None:
        return [job]
    if isinstance(argv, str):
        return [job, *shlex.split(argv)]
    if isinstance(argv, (list, tuple)):
        return [job, *(str(a) for a in argv)]
    raise ValueError(f"parameter argv: {argv!r} is neither a list nor a string")


class _MillraceSpark:
    def __init__(self, url, job):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ImportError("the job's engine spark needs the Python package pyspark in the kernel's environment: pip install 'pyspark[connect]'") from None
        from urllib.parse import parse_qsl

        self.connect = url.startswith("sc://")
        run_id = _millrace_run_id()
        self.app_name = run_id or job
        if self.connect:
            # Spark Connect: the server's application; this run is a session of it, and its
            # parameters (;token=..., ;user_id=...) are the URL's. SPARK_REMOTE makes the job's
            # own SparkSession.builder.getOrCreate() return this session.
            _os.environ["SPARK_REMOTE"] = url
            self.session = SparkSession.builder.remote(url).getOrCreate()
            self.master = url.split(";", 1)[0]
        else:
            # A query string sets Spark properties: spark://host:7077?spark.executor.memory=2g.
            master, _, query = url.partition("?")
            builder = SparkSession.builder.master(master).appName(self.app_name).config("spark.ui.showConsoleProgress", "false")
            if master.startswith("local") and "SPARK_LOCAL_IP" not in _os.environ:
                # Local mode talks to itself: no need for the host name to resolve.
                builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            for key, value in parse_qsl(query, keep_blank_values=True):
                builder = builder.config(key, value)
            self.session = builder.getOrCreate()
            self.master = master
        self.tag = None
        self.cancelled = False
        self.stopped = False
        self.info = self._info()
        _atexit.register(self.stop)
        shell = get_ipython()
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)

    def _info(self):
        if self.connect:
            conf = self.session.conf
            info = {"master": self.master, "application_id": conf.get("spark.app.id", None), "session_id": self.session.session_id}
            # The server's UI, when its port is set (the client cannot see which port it took).
            host, port = conf.get("spark.driver.host", None), conf.get("spark.ui.port", None)
            if host and port and conf.get("spark.ui.enabled", "true") == "true":
                info["ui_url"] = f"http://{host}:{port}"
        else:
            sc = self.session.sparkContext
            info = {"master": self.master, "application_id": sc.applicationId}
            if sc.uiWebUrl:
                info["ui_url"] = sc.uiWebUrl
        info["app_name"] = self.app_name
        return {k: v for k, v in info.items() if v is not None}

    def show(self):
        """The application in the cell's output, and in the output's metadata (millrace.spark)."""
        from IPython.display import display

        i = self.info
        text = f"Spark application {i.get('application_id')} ({i['master']}), app name {i['app_name']}"
        if "session_id" in i:
            text += f", Spark Connect session {i['session_id']}"
        if "ui_url" in i:
            text += f"\nUI: {i['ui_url']}"
        display({"text/plain": text}, raw=True, metadata={"millrace": {"spark": i}})

    def _pre_run_cell(self, info=None):
        # The cell's jobs carry the cell's own request id (run, cell, revision): what to cancel.
        try:
            tag = get_ipython().kernel.get_parent("shell")["header"]["msg_id"] or None
        except Exception:
            tag = None
        tag = _re.sub(r"[^\w.-]", "_", tag or "millrace-cell")
        if self.stopped:
            return
        if self.connect:
            if self.tag:
                self.session.removeTag(self.tag)
            self.session.addTag(tag)
        else:
            self.session.sparkContext.setJobGroup(tag, f"millrace cell of {self.app_name}", interruptOnCancel=True)
        self.tag, self.cancelled = tag, False
        # The cell's SIGINT handler (ipykernel restores its own after the cell): cancel the
        # cell's Spark jobs the moment the interrupt arrives, before anything else runs. A
        # cancelled run is interrupted and then shut down at once, and ipykernel's shutdown
        # terminates the JVM: cancelling later (after the traceback) would lose that race.
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_interrupt)

    def _on_interrupt(self, signum, frame):
        if not self.stopped and self.tag is not None and not self.cancelled:
            self.cancelled = True
            # From another thread: this one's Py4J connection is waiting for the running job,
            # so a call on it would wait too.
            import threading

            if self.connect:
                cancel = threading.Thread(target=self.session.interruptTag, args=(self.tag,), daemon=True)
            else:
                cancel = threading.Thread(target=self.session.sparkContext.cancelJobGroup, args=(self.tag,), daemon=True)
            cancel.start()
            cancel.join(10)
        raise KeyboardInterrupt

    def _post_run_cell(self, result):
        # Said here, not in the signal handler: printing there could interrupt a print.
        if self.cancelled:
            print(f"cancelled the Spark jobs of this cell (group {self.tag})")

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        try:
            self.session.stop()
        except Exception:
            pass
