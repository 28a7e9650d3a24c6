"""The threaded engine's reusable threads: jobs run in threads of their own, idle threads
take the next job, and closing lets every thread end."""

from __future__ import annotations

import threading

import pytest

from transports.thread_pool import Workers

WAIT = 10.0


def test_a_job_runs_in_a_thread_that_takes_the_next_job_once_idle() -> None:
    workers = Workers("test-worker")
    ran: list[threading.Thread] = []
    done = threading.Semaphore(0)

    def job() -> None:
        ran.append(threading.current_thread())
        done.release()

    workers.run(job)
    assert done.acquire(timeout=WAIT)
    for _ in range(50):  # the thread is idle by now or soon: no new thread is needed
        workers.run(job)
        assert done.acquire(timeout=WAIT)
    workers.close()
    workers.join()
    assert ran[0] is not threading.current_thread()
    assert len(set(ran)) <= 2  # the first thread, and one more if it was not idle yet
    assert not any(thread.is_alive() for thread in ran)


def test_busy_threads_are_not_waited_for() -> None:
    workers = Workers("test-worker")
    release = threading.Event()
    started = threading.Barrier(4)

    def job() -> None:
        started.wait(WAIT)
        release.wait(WAIT)

    for _ in range(3):
        workers.run(job)
    started.wait(WAIT)  # three jobs run at once: three threads
    release.set()
    workers.close()
    workers.join()


def test_idle_threads_end_after_their_keep_time_and_no_job_is_lost() -> None:
    workers = Workers("test-worker", keep=0.001)
    done = threading.Semaphore(0)
    for _ in range(200):  # jobs arriving while idle threads time out
        workers.run(done.release)
    for _ in range(200):
        assert done.acquire(timeout=WAIT)
    workers.close()
    workers.join()


def test_no_job_is_taken_after_close() -> None:
    workers = Workers("test-worker")
    workers.close()
    with pytest.raises(RuntimeError, match="closed"):
        workers.run(lambda: None)
