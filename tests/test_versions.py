"""The same run under every Python this machine has: the same output.

microgpt.py supports CPython 3.9 to 3.13 and PyPy 3. Its arithmetic is plain
IEEE float64, its random numbers come from random.Random, and it adds floats
in an order of its own, so one run with one seed should print the same
losses, validation losses and samples on every one of them. This runs a
model of non-default settings under each interpreter found (the ones pyenv
installed, and pypy3 on PATH) and compares everything printed but the
timings.
"""

import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import INPUT, run_script

ARGS = ['--n-embd', '32', '--n-layer', '2', '--seed', '7', '--steps', '30',
        '--temperature', '1.0', '--val-docs', '20', '--samples', '10', '--input', str(INPUT)]


def pyenv_root():
    if os.environ.get('PYENV_ROOT'):
        return os.environ['PYENV_ROOT']
    if shutil.which('pyenv'):
        found = subprocess.run(['pyenv', 'root'], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=60)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return os.path.expanduser('~/.pyenv')


def version_of(python):
    """(implementation, major, minor) of an interpreter, or None if it does not run."""
    try:
        found = subprocess.run(
            [python, '-c', 'import sys; print(sys.implementation.name, *sys.version_info[:2])'],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if found.returncode != 0:
        return None
    name, major, minor = found.stdout.split()
    return name, int(major), int(minor)


def interpreters():
    """{(implementation, major, minor): path}, one of each, 3.9 or later."""
    candidates = [sys.executable]
    for minor in range(9, 14):
        candidates += sorted(glob.glob(os.path.join(pyenv_root(), 'versions', '*', 'bin',
                                                    f'python3.{minor}')))
    if shutil.which('pypy3'):
        candidates.append(shutil.which('pypy3'))
    found = {}
    for python in candidates:
        version = version_of(python)
        if version and version[1:] >= (3, 9):
            found.setdefault(version, python)
    return found


def without_timings(stdout):
    """The output with every figure that depends on the machine's speed taken out."""
    text = re.sub(r' \| [\d.]+ ms/step \| \d+:\d\d left', '', stdout)
    return re.sub(r' in [\d.]+ s \([\d.]+ ms per step\)', '', text)


def test_every_python_prints_the_same_run():
    found = interpreters()
    if len(found) < 2:
        pytest.skip(f'fewer than two Pythons of 3.9 or later found (only {sorted(found)}), '
                    'so there is nothing to compare')
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(found, pool.map(lambda python: run_script(*ARGS, python=python),
                                           found.values())))
    for version, result in results.items():
        assert result.returncode == 0 and result.stderr == '', (version, result.stderr)
    outputs = {version: without_timings(result.stdout) for version, result in results.items()}
    first = next(iter(outputs))
    reference = outputs[first]
    assert 'ms/step' not in reference and len(re.findall(r'^sample ', reference, re.M)) == 10
    differing = {}
    for version, output in outputs.items():
        if output != reference:
            a, b = reference.splitlines(), output.splitlines()
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            differing[version] = (a[at:at + 1], b[at:at + 1])
    assert not differing, (f'output differs from {first}\'s ({found[first]}) '
                           f'at the first differing line: {differing}')
