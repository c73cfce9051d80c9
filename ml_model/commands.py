"""The CLI's subcommands, each a function of its parsed arguments over the package's typed functions."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from api.runtime.manifest import INT8, MANIFEST_NAME, READER, parse_manifest

from .errors import UserError


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config

    config = load_config(args.config).with_overrides(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    reader = None if args.no_reader else load_config(args.reader_config).with_overrides(epochs=args.reader_epochs)
    if args.reader_lines is not None and args.reader_lines < 1:
        raise UserError(f"--reader-lines must be a positive number of lines, got {args.reader_lines}")
    from .train import train

    result = train(
        config,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        export_dir=args.export_dir,
        progress=None if not args.no_progress else False,
        reader=reader,
        reader_lines=args.reader_lines,
    )
    print(f"test loss {result.metrics['loss']:.4f}  test accuracy {result.metrics['accuracy']:.4f}")
    if reader is not None:
        section = json.loads((result.export_dir / MANIFEST_NAME).read_text())[READER]
        read, int8 = section["metrics"]["test"], section["variants"][INT8]
        print(f"number reader: {read['lineAccuracy']:.4f} of {read['lines']} test lines read right")
        print(f"number reader, int8: {int8['lineAccuracy']:.4f} of {int8['lines']} test lines read right")
    print(f"export: {result.export_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_export

    results = evaluate_export(
        args.export, runtime=args.runtime, precision=args.precision, data_dir=args.data_dir, cache_dir=args.cache_dir
    )
    if args.json:
        print(json.dumps(results))
        return 0
    for scores in results:
        print(
            f"{args.export}: version {scores['version']}, runtime {scores['runtime']}, {scores['precision']}: "
            f"test loss {scores['loss']:.4f}  test accuracy {scores['accuracy']:.4f} ({scores['count']} images)"
        )
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from .quantize import quantize_export

    out = quantize_export(args.export, args.out, data_dir=args.data_dir, cache_dir=args.cache_dir)
    manifest = parse_manifest((out / MANIFEST_NAME).read_bytes())
    for variant in manifest.variants.values():
        print(
            f"{variant.precision:<8} test accuracy {variant.accuracy:.4f}  {variant.ms_per_image:.3f} ms per image  "
            f"{manifest.artifact(variant.artifact).path}"
        )
    print(f"served by default (MODEL_PRECISION=auto): {manifest.variant('auto').precision}")
    for reader in manifest.reader_variants.values():
        print(
            f"reader {reader.precision:<8} {reader.line_accuracy:.4f} of test lines read right  "
            f"{reader.ms_per_line:.2f} ms per line  {manifest.artifact(reader.artifact).path}"
        )
    if manifest.reader_variants:
        print(f"reader served by default (MODEL_PRECISION=auto): {manifest.reader_variant('auto').precision}")
    print(f"export: {out} (version {manifest.version})")
    return 0


def _bucket_and_client(args: argparse.Namespace) -> tuple[str, Any]:
    from .env import BUCKET_VARIABLE, bucket_name, load_env
    from .s3 import s3_client

    settings = load_env(args.env)
    bucket = bucket_name(args.bucket, settings)
    # Where the name came from, so that an error about the bucket points at what to fix.
    args.bucket_origin = "--bucket" if args.bucket else settings.origin(BUCKET_VARIABLE)
    return bucket, s3_client(args.endpoint_url, settings=settings.from_files)


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import deploy, format_size
    from .latest import LATEST_KEY
    from .s3 import public_url

    if args.dry_run:  # no credentials or network needed to see the plan
        from .env import bucket_name, load_env

        bucket = bucket_name(args.bucket, load_env(args.env))
        result = deploy(args.export, bucket, dry_run=True)
        print(f"dry run: would upload version {result.version} to s3://{bucket}/{result.version}/")
        for spec in result.objects:
            print(f"  {spec.key}  {format_size(spec.bytes)}  {spec.content_type}  sha256 {spec.sha256[:12]}…")
        print(f"then switch {result.latest_url} to it{' (objects public-read)' if args.public_read else ''}")
        return 0
    bucket, client = _bucket_and_client(args)
    result = deploy(args.export, bucket, client=client, public_read=args.public_read)
    print(
        f"deployed version {result.version} to s3://{bucket}/{result.version}/ "
        f"({len(result.uploaded)} uploaded, {len(result.already_there)} already there)"
    )
    _print_switch(result.latest_url, result.switched, result.version, result.previous)
    print(f"MODEL_URL={result.latest_url}")
    if args.public_read:
        print(f"public URL: {public_url(client, bucket, LATEST_KEY)}")
    return 0


def cmd_import_tfjs(args: argparse.Namespace) -> int:
    from .env import load_env
    from .import_tfjs import import_tfjs
    from .s3 import s3_client

    clients: list[Any] = []

    def client() -> Any:  # only an s3:// source needs one (and its credentials)
        if not clients:
            clients.append(s3_client(args.endpoint_url, settings=load_env(args.env).from_files))
        return clients[0]

    out = import_tfjs(args.source, args.out, s3_client=client, data_dir=args.data_dir, cache_dir=args.cache_dir)
    manifest = parse_manifest((out / MANIFEST_NAME).read_bytes())
    print(f"imported {args.source}: test accuracy {manifest.test_accuracy:.4f}")
    print(f"export: {out} (version {manifest.version})")
    print(f"next: python -m ml_model deploy --export {out}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from .deploy import format_size
    from .versions import list_versions

    bucket, client = _bucket_and_client(args)
    versions = list_versions(bucket, client=client)
    if args.json:
        print(json.dumps([{**asdict(v), "complete": v.complete} for v in versions], indent=2))
        return 0
    if not versions:
        print(f"s3://{bucket}/ holds no model versions yet")
        return 0
    print(f"{'':2}{'VERSION':<22} {'CREATED':<21} {'TEST ACC':>8} {'SIZE':>9}  STATUS")
    for v in versions:
        accuracy = f"{v.test_accuracy:.4f}" if v.test_accuracy is not None else "-"
        status = "latest" if v.latest else ""
        if v.problem:
            status = f"{status + ', ' if status else ''}incomplete: {v.problem}"
        print(
            f"{'*' if v.latest else ' ':2}{v.version:<22} {v.created or '-':<21} {accuracy:>8} "
            f"{format_size(v.bytes):>9}  {status}".rstrip()
        )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .latest import LATEST_KEY
    from .versions import rollback

    bucket, client = _bucket_and_client(args)
    result = rollback(bucket, args.version, client=client, public_read=args.public_read)
    _print_switch(f"s3://{bucket}/{LATEST_KEY}", result.changed, result.version, result.previous)
    return 0


def _print_switch(latest_url: str, changed: bool, version: str, previous: str | None) -> None:
    if changed:
        print(f"{latest_url} now serves {version} (was {previous or 'nothing'})")
    else:
        print(f"{latest_url} already serves {version}")


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.root, host=args.host, port=args.port)
    return 0
