#!/usr/bin/python3
"""Drops FILES from the page cache, so that the next exec of each reads it
from disk as a container's first start does.

  bench/evict.py FILE...

How a binary's pages came into the page cache (written by the linker, by
cp, or read ahead from disk) changes how many page faults each exec takes:
the same replikit build took 133, 143 or 157 on this machine. Evicting
every supervisor before the start-up rows puts them all in one state."""
import os
import sys

if len(sys.argv) < 2:
    sys.exit("bench/evict.py: name the files to drop from the page cache; see its usage line")
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        # Dirty pages are not dropped: write them out first.
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
