"""The spec's ``tracking:`` table: located errors for bad options, and its JSON Schema."""

from __future__ import annotations

from collections.abc import Callable

from conftest import WriteSpec

Errors = Callable[..., list[str]]

HEAD = "nemorun: 1\ntask: {command: 'true'}\n"


def test_misspelt_options_and_values_are_located(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        HEAD + "tracking:\n"
        "  mlflow: {uri: 'http://127.0.0.1:5000', experimnt: e}\n"
        "  wandb: {project: p, mode: ofline}\n"
        "  tensorboard: {}\n"
        "  neptune: {}\n",
    )
    assert load_errors(path) == [
        "exp.yaml:4:42: tracking.mlflow.experimnt: unknown argument of MlflowTracking; "
        "did you mean 'experiment'?",
        "exp.yaml:5:29: tracking.wandb.mode: not an allowed value: expected one of 'online', "
        "'offline', found 'ofline' (a string); did you mean 'offline'?",
        "exp.yaml:6:3: tracking.tensorboard: missing required argument 'dir' of "
        "TensorboardTracking; add 'dir: text'",
        "exp.yaml:7:3: tracking.neptune: unknown argument of TrackingOptions",
    ]


def test_mlflow_must_be_a_server_the_job_can_reach(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", HEAD + "tracking:\n  mlflow: {uri: 'sqlite:///m.db'}\n")
    assert load_errors(path) == [
        "exp.yaml:4:17: tracking.mlflow.uri: nemorun hands runs to an MLflow tracking server: "
        "expected an http:// or https:// address (the job must reach it too), found "
        "'sqlite:///m.db'; start one with 'mlflow server --backend-store-uri sqlite:///mlflow.db'"
    ]


def test_the_json_schema_accepts_tracking_and_refuses_a_bad_mode(write_spec: WriteSpec):
    import jsonschema
    import yaml

    import nemorun

    text = HEAD + "tracking:\n  wandb: {project: p, mode: offline}\n  tensorboard: {dir: tb}\n"
    spec = nemorun.load(write_spec("exp.yaml", text))
    assert spec.tracking.wandb is not None and spec.tracking.wandb.mode == "offline"
    schema = nemorun.schema(spec)
    document = yaml.safe_load(text)
    jsonschema.validate(document, schema)
    document["tracking"]["wandb"]["mode"] = "ofline"
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors and all(list(e.absolute_path) == ["tracking"] for e in errors)
