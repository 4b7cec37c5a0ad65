"""The system under test: runs batches of QSL samples through the model and
answers LoadGen.

SingleStream and MultiStream run each query in LoadGen's issue callback (one
query in flight at a time, by definition). Offline and Server hand queries to a
worker thread: Offline cuts its one large query into batches; Server batches
whatever has arrived while the GPU was busy, up to the calibrated batch size.

Responses: in performance mode the argmax (ResNet-50: the class; BERT: start and
end token), in accuracy mode the logits in fp16, which LoadGen writes to
mlperf_log_accuracy.json, where the scorers and the native/libvgpu comparison read them.
"""

import queue
import sys
import threading
import time

import numpy as np
import torch

import model_zoo


class Runner:
    """One batch of sample indices -> numpy results, on one device."""

    def __init__(self, spec, dataset, device, dtype):
        self.spec = spec
        self.dataset = dataset
        self.device = torch.device(device)
        self.dtype = dtype
        self.lock = threading.Lock()

    def _to_device(self, host):
        moved = [t.to(self.device, non_blocking=True) for t in host]
        if self.spec.name == model_zoo.RESNET50:
            return moved[0].to(self.dtype)
        return tuple(moved)

    @torch.inference_mode()
    def run(self, indices, full):
        """Results for these samples: fp16 logits when full, else int32 argmax; shape (B, ...)."""
        with self.lock:  # one batch at a time: the gather buffers are reused
            inputs = self._to_device(self.dataset.gather(indices))
            logits = model_zoo.forward(self.spec, inputs)
            if full:
                return logits.to(torch.float16).cpu().numpy()
            return logits.argmax(dim=-1).to(torch.int32).cpu().numpy()

    def time_batch(self, batch, iterations, min_seconds, indices=None):
        """Median wall time in ms of run() on `batch` samples (default: the first ones)."""
        if indices is None:
            indices = [i % self.dataset.count for i in range(batch)]
        times = []
        started = time.perf_counter()
        while len(times) < iterations or time.perf_counter() - started < min_seconds:
            t0 = time.perf_counter()
            self.run(indices, full=False)
            times.append((time.perf_counter() - t0) * 1000)
            if len(times) >= 1000:
                break
        times.sort()
        return times[len(times) // 2]


def calibrate(runner, batch_sizes, quick, log):
    """{batch: median ms} over the model's batch sizes, after a warm-up of each."""
    sizes = [b for b in batch_sizes if b <= runner.dataset.count] or [1]
    # Scattered samples, as LoadGen picks them: gathering them costs more than a contiguous run.
    rng = np.random.default_rng(1)
    loaded = runner.dataset.calibration_indices()
    for b in sizes:
        runner.time_batch(b, iterations=2, min_seconds=0)
    result = {}
    for b in sizes:
        picks = [int(i) for i in rng.choice(loaded, size=b, replace=len(loaded) < b)]
        result[b] = runner.time_batch(b, iterations=5, min_seconds=0.3 if quick else 1.0, indices=picks)
        log(f"calibration: batch {b:4d}: {result[b]:8.2f} ms ({b / result[b] * 1000:8.1f} samples/s)")
    return result


class Progress:
    """Counts completed samples and prints a line every `every` seconds while LoadGen runs."""

    def __init__(self, label, expected_s, every=10.0):
        self.label = label
        self.expected_s = expected_s
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.started = time.monotonic()
        self._thread.start()

    def add(self, n):
        self.done += n

    def _loop(self):
        while not self._stop.wait(self.every):
            elapsed = time.monotonic() - self.started
            print(
                f"[{self.label}] {elapsed:6.0f} s of at least {self.expected_s:.0f} s: {self.done} samples done",
                file=sys.stderr,
                flush=True,
            )

    def stop(self):
        self._stop.set()


class LoadGenSUT:
    """Builds the LoadGen SUT and QSL callbacks for one scenario."""

    def __init__(self, lg, runner, scenario, accuracy, offline_batch, server_batch, progress):
        self.lg = lg
        self.runner = runner
        self.scenario = scenario
        self.full = accuracy
        self.offline_batch = max(1, offline_batch)
        self.server_batch = max(1, server_batch)
        self.progress = progress
        self.queue = queue.Queue()
        self.error = None
        self.worker = None
        self.batches = 0

    # ---- answering LoadGen

    def _complete(self, ids, indices):
        rows = self.runner.run(indices, self.full).reshape(len(ids), -1)  # one row of bytes per sample
        responses = [self.lg.QuerySampleResponse(qid, rows[i].ctypes.data, rows[i].nbytes) for i, qid in enumerate(ids)]
        # LoadGen copies the data before this returns: `rows` may go afterwards.
        self.lg.QuerySamplesComplete(responses)
        self.progress.add(len(ids))
        self.batches += 1

    def issue(self, query_samples):
        # The samples are LoadGen's, valid only during this call: copy out ids and indices now.
        ids = [s.id for s in query_samples]
        indices = [s.index for s in query_samples]
        if self.scenario in ("SingleStream", "MultiStream"):
            self._guarded(self._complete, ids, indices)
        elif self.scenario == "Offline":
            for start in range(0, len(ids), self.offline_batch):
                self.queue.put((ids[start : start + self.offline_batch], indices[start : start + self.offline_batch]))
        else:
            for pair in zip(ids, indices):
                self.queue.put(pair)

    def flush(self):
        pass

    def _guarded(self, fn, *args):
        try:
            fn(*args)
        except BaseException as err:  # LoadGen would wait forever for the answer: stop the process
            self.error = err
            print(f"SUT failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            import os

            os._exit(4)

    def _work(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.scenario == "Offline":
                self._guarded(self._complete, *item)
                continue
            # Server: this sample, and whatever else has arrived, up to the batch size.
            ids, indices = [item[0]], [item[1]]
            stop = False
            while len(ids) < self.server_batch:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                ids.append(more[0])
                indices.append(more[1])
            self._guarded(self._complete, ids, indices)
            if stop:
                return

    def start(self):
        if self.scenario in ("Offline", "Server"):
            self.worker = threading.Thread(target=self._work, name="sut-worker", daemon=True)
            self.worker.start()

    def stop(self):
        if self.worker is not None:
            self.queue.put(None)
            self.worker.join()
