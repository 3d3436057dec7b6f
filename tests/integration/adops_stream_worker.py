"""A stream-job process for the SIGKILL test: the real job on a data directory's platform.

It reads ``metrics.adops`` in small batches and checkpoints after each one. With
``--die-after K`` it kills itself with SIGKILL right after reading the batch that follows its
K-th checkpoint (processed, alerts computed, nothing written: the worst moment); the test may
also kill it from outside at any time. It exits 0 once the job's offset reaches ``--expect``.
With ``--model FILE`` it scores with that trained model (applied on a fresh start; a restart
finds it in its checkpoint).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from ssmas.adops.runtime import incident_service
from ssmas.adops.stream.job import METRICS_TOPIC, StreamJob
from ssmas.adops.stream.model import DetectorModel
from ssmas.core.platform import build_platform
from ssmas.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--model", type=Path, default=None, help="a trained model (.npz)")
    args = parser.parse_args()
    platform = build_platform(Settings(profile="test", data_dir=args.data_dir))
    job = StreamJob(
        platform.engine, platform.bus, incident_service(platform), batch=40, checkpoint_s=0.0
    )
    if args.model is not None and job.processor.model is None:  # else it is in the checkpoint
        job.processor.apply_model(DetectorModel.from_bytes(args.model.read_bytes()), "1")
    print(f"START {job.offsets.get(METRICS_TOPIC, 0)}", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if job.offsets.get(METRICS_TOPIC, 0) >= args.expect:
            platform.close()
            return 0
        read = job.poll()
        if args.die_after and read and job.stats.checkpoints >= args.die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if job.checkpoint(force=True):
            print(f"CHECKPOINT {job.stats.checkpoints} {job.offsets[METRICS_TOPIC]}", flush=True)
        time.sleep(args.pause)
    return 1


if __name__ == "__main__":
    sys.exit(main())
