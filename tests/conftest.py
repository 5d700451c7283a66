"""Shared helpers for the microgpt test suite.

microgpt is a single script, not an installed package, so the repository root
is put on sys.path here and the tests simply `import microgpt`.
"""

import contextlib
import gc
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / 'microgpt.py'
# The classic names data set lives outside the repository and may be absent.
NAMES = REPO.parent / 'shared' / 'data' / 'names.txt'

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import microgpt  # noqa: E402

# A small fixed corpus over five letters: quick to train on, and regular enough
# (short words, few letters, lots of repetition) that a tiny model learns it.
TINY_WORDS = [
    'ana', 'anna', 'ben', 'bea', 'nan', 'ean', 'bab', 'ebb', 'nab', 'bane',
    'bean', 'nene', 'abe', 'ebba', 'anne', 'bena', 'neb', 'aba', 'ena', 'bebe',
    'nana', 'babe', 'ane', 'bae', 'dana', 'dean', 'eden', 'dee', 'bede', 'nada',
]

# Model knobs that keep command-line runs fast.
TINY_KNOBS = ['--n-embd', '8', '--n-head', '2', '--block-size', '8']


def tiny_config(**overrides):
    """A small model configuration that trains in milliseconds per step."""
    settings = dict(n_layer=1, n_embd=8, n_head=2, block_size=8)
    settings.update(overrides)
    return microgpt.Config(**settings)


def make_model(docs, seed=0, **overrides):
    """(model, tokenizer, config) for docs, with weights drawn from Random(seed)."""
    config = tiny_config(**overrides)
    tokenizer = microgpt.Tokenizer(docs)
    model = microgpt.GPT(config, tokenizer.vocab_size, random.Random(seed))
    return model, tokenizer, config


def numbers(matrix):
    """A matrix of Values as plain floats, as linear() takes it alongside the matrix."""
    return [[p.data for p in row] for row in matrix]


@contextlib.contextmanager
def gc_disabled():
    """Switch the cycle collector off, so only reference counting can free objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_script(*args, cwd=None, timeout=120):
    """Run microgpt.py in a fresh interpreter; return the CompletedProcess (text)."""
    env = dict(os.environ)
    env['PYTHONIOENCODING'] = 'utf-8'   # decode samples the same way everywhere
    env.pop('PYTHONSTARTUP', None)
    return subprocess.run(
        [sys.executable, '-B', str(SCRIPT), *[str(a) for a in args]],
        cwd=cwd, env=env, capture_output=True, timeout=timeout,
        encoding='utf-8', errors='strict')


# --- reading a run's output ----------------------------------------------------

PROGRESS = re.compile(r'^step +(\d+) / (\d+) \| loss (\d+\.\d{4}) \| \d+\.\d ms/step \| \d+:\d\d left$')
SAMPLE = re.compile(r'^sample +(\d+): (.*)  \((new|in the training data)\)$')
DOCUMENTS = re.compile(r'^([\d,]+) documents?: ([\d,]+) to train on, ([\d,]+) held out for validation$')
TOKENS = re.compile(r'^(\d+) tokens \((\d+) characters? \+ BOS\), ([\d,]+) parameters$')


def progress_lines(stdout):
    """(step, total, loss) for every progress line; every line that starts 'step' must match."""
    found = []
    for line in stdout.splitlines():
        if line.startswith('step'):
            match = PROGRESS.match(line)
            assert match, f'badly formatted progress line: {line!r}'
            found.append((int(match.group(1)), int(match.group(2)), float(match.group(3))))
    return found


def sample_lines(stdout):
    """(number, text) of every 'sample N: ...' line."""
    return [(int(m.group(1)), m.group(2))
            for m in map(SAMPLE.match, stdout.splitlines()) if m]


def tagged_samples(stdout):
    """(text, 'new' or 'in the training data') of every sample line."""
    return [(m.group(2), m.group(3)) for m in map(SAMPLE.match, stdout.splitlines()) if m]


def header_counts(stdout):
    """(documents, tokens) from the lines that open a run: the documents, then
    (if there is none) why there is no validation loss, then the tokens."""
    lines = stdout.splitlines()
    if lines[1].startswith('no validation loss'):
        del lines[1]
    documents, tokens = DOCUMENTS.match(lines[0]), TOKENS.match(lines[1])
    assert documents and tokens, f'a run does not open with its counts:\n{stdout}'
    return int(documents.group(1).replace(',', '')), int(tokens.group(1))


def assert_clean_success(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert 'Traceback' not in result.stdout


def write_bytes(directory, name, data):
    """Write data (bytes, or str as UTF-8) to directory/name and return the path."""
    path = Path(directory) / name
    path.write_bytes(data.encode('utf-8') if isinstance(data, str) else data)
    return path


@pytest.fixture
def tiny_input(tmp_path):
    """A temporary input file holding TINY_WORDS, one per line."""
    return write_bytes(tmp_path, 'words.txt', '\n'.join(TINY_WORDS) + '\n')


@pytest.fixture
def names_path():
    """The classic names file; tests that need it skip when it is absent."""
    if not NAMES.is_file():
        pytest.skip(f'classic names file not found at {NAMES}')
    return NAMES
