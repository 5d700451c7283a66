"""The project's own benchmark: how fast microgpt.py trains, and in how much memory.

    python tests/benchmark.py                      # 1000 steps on input.txt, 3 rounds
    python tests/benchmark.py --steps 200 --rounds 5 --input words.txt
    python tests/benchmark.py --scaling            # time per step as n_embd, block_size grow
    python tests/benchmark.py --vs other/microgpt.py --rounds 1
    pypy3 tests/benchmark.py                       # any Python 3.9+, or PyPy

Each run is a fresh process of the interpreter running this script, timed
from start to exit; only the standard library is needed. Runs take turns
(A B A B ...), so a machine that slows down midway slows every command
alike, and a first warm-up run of each command is not counted.
"""

import argparse
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MICROGPT = REPO / 'microgpt.py'
FIGURES = """figures (each the median over the rounds):
  ms/step   training time per step, from microgpt's own summary line ("... in
            4.7 s (4.7 ms per step)"): the training loop alone, without
            start-up, loading, validation or sampling. Marked * where that line
            is missing: then it is the whole process's wall time / steps. With
            --vs it is wall time / steps for both scripts alike.
  steps/s   1000 / ms/step
  wall s    wall-clock time of the whole process, start to exit
  cpu s     user + system CPU time of the process
  peak MB   the process's peak resident memory (ru_maxrss), in MiB"""

SUMMARY = re.compile(r'([\d,]+) parameters .*?([\d,]+) steps? in [\d.]+ ?s \(([\d.]+) ms per step')
STEP = re.compile(r'step\s+(\d+)\s*/\s*(\d+).*?loss\s+(-?[\d.]+(?:e-?\d+)?|nan|inf)', re.I)


def run(cmd, cwd=None):
    """Run cmd to its end; return its figures, and what it printed about its steps."""
    env = dict(os.environ, PYTHONIOENCODING='utf-8')
    with tempfile.TemporaryFile('w+', encoding='utf-8', errors='replace') as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)   # the resources of this child alone
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)   # (so Popen never waits again)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        sys.exit(f'benchmark: {" ".join(cmd)} failed (exit {proc.returncode}):\n{text[-2000:]}')
    steps = STEP.findall(text)
    summary = SUMMARY.search(text)
    r = {'wall s': wall, 'cpu s': usage.ru_utime + usage.ru_stime,
         # ru_maxrss counts KiB on Linux, bytes on macOS
         'peak MB': usage.ru_maxrss / (2**20 if sys.platform == 'darwin' else 2**10),
         'steps': int(steps[-1][0]) if steps else None,
         'final loss': steps[-1][2] if steps else None,
         'params': summary.group(1) if summary else '?'}
    if summary:
        r['ms/step'] = float(summary.group(3))
    elif r['steps']:
        r['ms/step'], r['estimated'] = 1000 * wall / r['steps'], True
    return r


def rounds(commands, n, warmup=True):
    """{label: [figures of each round]}: each (label, cmd, cwd) runs once a round."""
    for _, cmd, cwd in commands if warmup else []:
        run(cmd, cwd)
    results = {label: [] for label, _, _ in commands}
    for i in range(n):
        for label, cmd, cwd in commands:
            print(f'  round {i + 1}/{n}: {label:40s}', end='\r', file=sys.stderr, flush=True)
            results[label].append(run(cmd, cwd))
    print(' ' * 60, end='\r', file=sys.stderr)
    return results


def median(runs, key):
    return statistics.median(r[key] for r in runs) if all(key in r for r in runs) else math.nan


def star(runs):   # marks an ms/step that is wall time / steps, for want of the summary line
    return '*' if any(r.get('estimated') for r in runs) else ' '


def microgpt(*flags):
    return [sys.executable, str(MICROGPT), *map(str, flags)]


def shown(cmd):   # cmd as one would type it
    return ' '.join(['python'] + [os.path.relpath(a) if os.path.isabs(a) else a for a in cmd[1:]])


def plain_benchmark(args):
    steps = args.steps or 1000
    commands = [('training only', microgpt('--input', args.input, '--steps', steps,
                                           '--samples', 0, '--val-docs', 0), None),
                ('whole run', microgpt('--input', args.input, '--steps', steps), None)]
    results = rounds(commands, args.rounds)
    keys = ['ms/step', 'steps/s', 'wall s', 'cpu s', 'peak MB']
    print(f'{steps} steps\n{"":16s}' + ''.join(f'{k:>10s}' for k in keys))
    for label, runs in results.items():
        figures = {k: median(runs, k) for k in keys}
        figures['steps/s'] = 1000 / figures['ms/step']
        print(f'{label:16s}' + ''.join(f'{figures[k]:10.1f}' for k in keys) + star(runs))
    for label, cmd, _ in commands:
        print(f'  {label + ":":15s} {shown(cmd)}')
    print('  (the whole run adds the validation loss before and after training, and 20 samples)')


def scaling(args):
    steps = args.steps or 100
    training = ['--steps', steps, '--samples', 0, '--val-docs', 0]
    with tempfile.TemporaryDirectory() as tmp:
        # Names are mostly under 8 characters, so on input.txt a longer context
        # would change nothing: block sizes are timed on lines of 40 characters
        # instead, made by running its documents together.
        text = ''.join(line.strip() for line in open(args.input, encoding='utf-8'))
        long_lines = os.path.join(tmp, 'long_lines.txt')
        with open(long_lines, 'w', encoding='utf-8') as f:
            f.writelines(text[i:i + 40] + '\n' for i in range(0, len(text) - 39, 40))
        commands = [(f'--n-embd {n} --n-head 4', microgpt('--input', args.input, '--n-embd', n,
                                                          '--n-head', 4, *training), None)
                    for n in (16, 32, 64)]
        commands += [(f'--block-size {b}', microgpt('--input', long_lines, '--block-size', b,
                                                    *training), None) for b in (8, 16, 32)]
        results = rounds(commands, args.rounds)
    print(f'{steps} steps, training only')
    print(f'{"":28s}{"params":>8s}{"ms/step":>10s}{"x first":>9s}{"peak MB":>9s}')
    for i, (label, runs) in enumerate(results.items()):
        ms = median(runs, 'ms/step')
        first = ms if i % 3 == 0 else first   # each table half against its own first row
        print(f'{label:28s}{runs[0]["params"]:>8s}{ms:10.1f}{star(runs)}{ms / first:7.2f}x'
              f'{median(runs, "peak MB"):9.1f}')
    name = os.path.relpath(args.input)
    print(f'  --n-embd rows: on {name}, at the default block size.\n'
          f'  --block-size rows: at the default n_embd, on lines of 40 characters made by\n'
          f'  running the documents of {name} together (names are mostly under 8\n'
          f'  characters: a context longer than a document changes nothing)')


def versus(args):
    script = os.path.abspath(args.vs)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(args.input, os.path.join(tmp, 'input.txt'))   # the other reads ./input.txt
        other = ('other', [sys.executable, script], tmp)
        first = run(*other[1:])   # the other's warm-up, which also shows how many steps it takes
        steps, source = ((args.vs_steps, '--vs-steps') if args.vs_steps else
                         (first['steps'], "the other script's last step line") if first['steps']
                         else (1000, 'a default: no "step N / M" line in its output'))
        # The same work as the other: train, then write 20 samples; no validation.
        ours = ('microgpt', microgpt('--input', 'input.txt', '--steps', steps,
                                     '--val-docs', 0, '--samples', 20), tmp)
        run(*ours[1:])            # microgpt's warm-up
        results = rounds([ours, other], args.rounds, warmup=False)
    keys = ['ms/step', 'wall s', 'cpu s', 'peak MB']
    print(f'{steps} steps (from {source}), the same data for both')
    print(f'{"":18s}' + ''.join(f'{k:>10s}' for k in keys))
    for label, runs in results.items():
        for r in runs:
            r['ms/step'] = 1000 * r['wall s'] / steps   # alike for both: whole process / steps
        print(f'{label:18s}' + ''.join(f'{median(runs, k):10.2f}' for k in keys))
    pairs = list(zip(results['microgpt'], results['other']))
    print(f'{"microgpt / other":18s}' + ''.join(
        f'{statistics.median(a[k] / b[k] for a, b in pairs):10.3f}' for k in keys))
    print(f'  (the ratios: medians of the ratios of each round\'s pair of runs)\n'
          f'  microgpt: {shown(ours[1])}\n  other:    python {args.vs}\n'
          f'  both in a folder holding a copy of {os.path.relpath(args.input)} as input.txt')
    ours_loss, other_loss = (results[k][-1]['final loss'] for k in ('microgpt', 'other'))
    print(f'  final loss: microgpt {ours_loss}, other ' + (
        f"{other_loss}{' (equal)' if ours_loss == other_loss else ''}" if other_loss else
        "not found (no 'step N / M ... loss X' line in its output)"))


def main():
    parser = argparse.ArgumentParser(
        description='Time microgpt.py: training, a whole run, scaling, or against another script.',
        epilog=FIGURES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', metavar='FILE', default=str(REPO / 'input.txt'),
                        help="training data (default: the repository's input.txt)")
    parser.add_argument('--steps', type=int, metavar='N',
                        help='training steps of each run (default: 1000; 100 with --scaling)')
    parser.add_argument('--rounds', type=int, default=3, metavar='R',
                        help='timed runs of each command (default: 3)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--scaling', action='store_true',
                      help='time per step for --n-embd 16, 32, 64 and for --block-size 8, 16, 32')
    mode.add_argument('--vs', metavar='SCRIPT',
                      help='also time SCRIPT, a microgpt-style script that takes no flags and '
                           'reads input.txt from its working directory, and print the ratios')
    parser.add_argument('--vs-steps', type=int, metavar='M',
                        help="microgpt's steps with --vs (default: the N of SCRIPT's last "
                             "'step N / M' line, else 1000)")
    args = parser.parse_args()
    if args.rounds < 1 or min(args.steps or 1, args.vs_steps or 1) < 1:
        parser.error('--rounds, --steps and --vs-steps must be at least 1')
    if not os.path.isfile(args.input):
        parser.error(f'no such file: {args.input}')
    print(f'{platform.python_implementation()} {platform.python_version()}, '
          f'{os.path.relpath(args.input)}, medians of {args.rounds} round(s) '
          f'after a warm-up run of each command')
    if args.vs:
        versus(args)
    elif args.scaling:
        scaling(args)
    else:
        plain_benchmark(args)


if __name__ == '__main__':
    main()
