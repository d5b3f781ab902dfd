"""Parameter docs from every place real libraries write them: the class docstring or
``__init__``'s, in Google, Sphinx or numpy style. Each row is a callable and the docs
`inspect_callable` must find for it (what hover and the JSON Schema then show)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from nemorun.schemas.docstrings import parse_parameter_docs
from nemorun.schemas.hints import inspect_callable


class GoogleOnClass:
    """A logger.

    Args:
        save_dir: Where to write
            the files.
        name (str): Experiment name.

            A second paragraph.
        **kwargs: Passed on.

    Returns:
        nothing: not a parameter.
    """

    def __init__(self, save_dir: str, name: str = "x", **kwargs: Any) -> None: ...


class GoogleOnInit:
    """A trainer (arguments documented on ``__init__``, as Lightning does)."""

    def __init__(self, max_epochs: int = 1, devices: int | str = "auto") -> None:
        """Customize every aspect of training.

        Args:
            max_epochs: Stop training once this number of epochs is reached.
            devices: The devices to use.
        """


class SphinxOnInit:
    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        """Stochastic gradient descent.

        :param lr: learning rate
        :param float momentum: momentum factor,
            0 for none
        :type momentum: float
        :returns: nothing
        """


class NumpyOnClass:
    """Linear regression (scikit-learn style).

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to calculate the intercept
        for this model.

    alpha, l1_ratio : float
        Regularisation strengths.
    n_jobs : int
        The number of jobs.

    Attributes
    ----------
    coef_ : array of shape (n_features,)
        Estimated coefficients.

    Examples
    --------
    >>> LinearRegression()
    """

    def __init__(
        self, fit_intercept: bool = True, alpha: float = 1.0, l1_ratio: float = 0.5, n_jobs: int = 1
    ) -> None: ...


class NumpyOnInit:
    def __init__(self, tol: float = 1e-4) -> None:
        """Parameters
        ----------
        tol : float
            Tolerance for stopping.
        """


class BothPlaces:
    """Class docs.

    Args:
        a: From the class.
    """

    def __init__(self, a: int, b: int) -> None:
        """:param a: from __init__ (the class's text wins)
        :param b: only on __init__
        """


class Child(GoogleOnInit):
    """A subclass that inherits ``__init__`` and its docs."""


def google_function(steps: int, tag: str = "") -> None:
    """Train.

    Args:
        steps: Number of steps.
        tag: A label. Keyword Args: is not a header here.
    """


CASES: list[tuple[Any, dict[str, str]]] = [
    (
        GoogleOnClass,
        {
            "save_dir": "Where to write the files.",
            "name": "Experiment name.\n\nA second paragraph.",
        },
    ),
    (
        GoogleOnInit,
        {
            "max_epochs": "Stop training once this number of epochs is reached.",
            "devices": "The devices to use.",
        },
    ),
    (SphinxOnInit, {"lr": "learning rate", "momentum": "momentum factor, 0 for none"}),
    (
        NumpyOnClass,
        {
            "fit_intercept": "Whether to calculate the intercept for this model.",
            "alpha": "Regularisation strengths.",
            "l1_ratio": "Regularisation strengths.",
            "n_jobs": "The number of jobs.",
        },
    ),
    (NumpyOnInit, {"tol": "Tolerance for stopping."}),
    (BothPlaces, {"a": "From the class.", "b": "only on __init__"}),
    (
        Child,
        {
            "max_epochs": "Stop training once this number of epochs is reached.",
            "devices": "The devices to use.",
        },
    ),
    (
        google_function,
        {"steps": "Number of steps.", "tag": "A label. Keyword Args: is not a header here."},
    ),
]


@pytest.mark.parametrize(("target", "docs"), CASES, ids=[c[0].__name__ for c in CASES])
def test_parameter_docs_are_read_from_every_style_and_place(
    target: Any, docs: dict[str, str]
) -> None:
    schema = inspect_callable(target)
    found = {name: p.doc for name, p in schema.params.items() if p.doc is not None}
    assert found == docs


def test_sections_that_name_no_parameters_are_not_read() -> None:
    doc = "Do it.\n\nReturns:\n    x: a value\n\nRaises\n------\nValueError\n    when bad.\n"
    assert parse_parameter_docs(doc) == {}
    assert "coef_" in parse_parameter_docs(inspect.getdoc(NumpyOnClass) or "")  # read, unused


REAL = [
    # (module, name, parameter, the start of its doc): where each library writes its docs
    ("sklearn.linear_model", "LogisticRegression", "C", "Inverse of regularization strength"),
    ("lightning.pytorch", "Trainer", "max_epochs", "Stop training once this number of epochs"),
    ("lightning.pytorch.loggers", "CSVLogger", "flush_logs_every_n_steps", "How often to flush"),
    ("torch.optim", "SGD", "lr", "learning rate"),
]


@pytest.mark.parametrize(("module", "name", "param", "start"), REAL, ids=[r[1] for r in REAL])
def test_real_libraries_docs_are_read(module: str, name: str, param: str, start: str) -> None:
    """numpy style on the class (scikit-learn), Google on ``__init__`` (Lightning), torch's own."""
    target = getattr(pytest.importorskip(module), name)
    doc = inspect_callable(target).params[param].doc
    assert doc is not None and doc.startswith(start), doc
