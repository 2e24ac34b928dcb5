"""`paraphe seal --cabinet SLUG IN.pdf [IN2.pdf …] -o OUT`: the same use case as seal@."""

from __future__ import annotations

import os
from pathlib import Path

from paraphe.console import CliError
from workflows.actors import Actor
from workflows.errors import DocumentError
from workflows.sealing import seal_document


def register(sub) -> None:
    parser = sub.add_parser("seal", help="seal PDF files with a cabinet's seal")
    parser.add_argument("--cabinet", required=True)
    parser.add_argument("inputs", nargs="+", metavar="IN.pdf")
    parser.add_argument("-o", "--output", required=True,
                        help="output file (one input) or folder (several)")
    parser.set_defaults(handler=seal)


def _targets(inputs: list[Path], output: Path) -> list[Path]:
    if len(inputs) == 1 and not output.is_dir():
        return [output]
    if output.exists() and not output.is_dir():
        raise CliError(f"{output} is a file: with several inputs, -o names a folder")
    output.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in inputs]
    if len(set(names)) != len(names):
        raise CliError("two inputs have the same file name; seal them separately")
    return [output / f"{p.stem}-scelle.pdf" for p in inputs]


async def seal(args, ctx) -> int:
    inputs = [Path(p) for p in args.inputs]
    for path in inputs:
        if not path.is_file():
            raise CliError(f"{path}: no such file")
    targets = _targets(inputs, Path(args.output))
    svc = await ctx.open()
    actor = Actor.operator(command="seal")
    failures = 0
    for source, target in zip(inputs, targets, strict=True):
        try:
            result = await seal_document(svc, actor, cabinet=args.cabinet, filename=source.name,
                                         data=source.read_bytes())
        except DocumentError as exc:
            print(f"{source}: refused: {exc.message} ({exc.code})", flush=True)
            failures += 1
            continue
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(await svc.documents.read(result.sha256))
        os.replace(tmp, target)
        print(f"{source} -> {target}  sha256 {result.sha256}  credit left {result.credit_left}",
              flush=True)
    return 1 if failures else 0
