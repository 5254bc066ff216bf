"""The two faces every model of the course shows: classical densities and neural modules.

``DensityModel`` follows scikit-learn's ``BaseMixture``: a ``fit`` template that checks the
data, calls the subclass's ``_fit`` and returns ``self``; fitted attributes end in ``_``;
``score_samples``/``score``/``sample(n, seed=)``; one fitted check.

``GenerativeModule`` is the face of neural models (GAN, VAE, their conditional versions, and
any model a reader adds): device and dtype, the settings it was built with, one label policy,
``sample(n, labels=None, seed=None)``, ``log_prob(x)`` where it is defined, and the public
``loss(batch)`` and ``training_step(batch, optimizers)`` that the one training loop calls. The
loop (:func:`lessons_lib.core.fit.fit_model`) touches nothing else, so a new model is one
subclass in its own file (see ``docs/adding_a_model.md``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_lib.core.validation import check_int

__all__ = ["DensityModel", "GenerativeModule", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``; the message says which call to make first."""


class DensityModel(ABC):
    """Template of the classical density models (Gaussian, GMM, MFA).

    Subclasses implement ``_fit(X)``, ``score_samples(X)`` and ``sample(n, seed=)``, and list
    the attributes that ``_fit`` sets in ``_fitted_attributes``. Numpy in, numpy out; torch in,
    torch out.
    """

    #: Attributes (ending in ``_``) that exist once the model is fitted.
    _fitted_attributes: tuple[str, ...] = ()

    def fit(self, X: Any, *args: Any, **kwargs: Any) -> DensityModel:
        """Fit the model to the rows of ``X`` (N, D) and return ``self``."""
        self._fit(X, *args, **kwargs)
        return self

    @abstractmethod
    def _fit(self, X: Any, *args: Any, **kwargs: Any) -> None:
        """Estimate the parameters from ``X`` (checked by the subclass)."""

    @abstractmethod
    def score_samples(self, X: Any) -> Any:
        """Log-density of each row of ``X``: (N, D) → (N,)."""

    def score(self, X: Any) -> float:
        """Mean log-density per row of ``X`` (N, D), as a Python float."""
        return float(np.mean(np.asarray(_as_numpy(self.score_samples(X)), dtype=np.float64)))

    @abstractmethod
    def sample(self, n: int, *, seed: int | None = None) -> Any:
        """``n`` draws from the fitted density: shape (n, D)."""

    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run (every fitted attribute exists)."""
        return all(hasattr(self, name) for name in self._fitted_attributes)

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X) first (or build it "
                "with from_parameters, where the model has one)."
            )


def _as_numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values)


class GenerativeModule(nn.Module, ABC):
    """Base class of the neural generative models.

    A subclass builds its layers in ``__init__`` (after ``super().__init__(...)``), and
    implements :meth:`sample` and :meth:`loss`. It may override :meth:`log_prob` (where the
    likelihood is defined), :meth:`configure_optimizers` (several networks, other optimisers),
    :meth:`training_step` (alternating updates, as a GAN's) and :meth:`check_training_data`.

    Parameters
    ----------
    n_classes : int, optional
        Number of classes of a conditional model; None for an unconditional one.
    """

    def __init__(self, *, n_classes: int | None = None) -> None:
        super().__init__()
        self.n_classes = (
            None if n_classes is None else check_int(n_classes, "n_classes", min_value=2)
        )

    # -- where it lives ---------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device of the first parameter or buffer (the CPU for a model with neither)."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the first floating parameter (float32 when there is none)."""
        for tensor in self.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this model (for checkpoints); override."""
        return {"n_classes": self.n_classes}

    # -- the one label policy ---------------------------------------------------------------

    @property
    def conditional(self) -> bool:
        """Whether the model takes class labels."""
        return self.n_classes is not None

    def sample_labels(self, n: int, labels: Any = None, *, name: str = "labels") -> Any:
        """The labels of ``n`` samples: None for an unconditional model.

        For a conditional model, ``labels=None`` gives every class in turn
        (``arange(n) % n_classes``), so a batch of samples shows all of them, deterministically;
        an int gives that class ``n`` times; an (n,) integer tensor is checked and used.
        """
        if not self.conditional:
            if labels is not None:
                raise ValueError(
                    f"{name} were given, but this {type(self).__name__} is not conditional; "
                    "build it with n_classes= to condition on classes."
                )
            return None
        if labels is None:
            return torch.arange(n, device=self.device) % self.n_classes
        if isinstance(labels, int | np.integer) and not isinstance(labels, bool | np.bool_):
            if not 0 <= int(labels) < self.n_classes:
                raise ValueError(f"{name} must be in 0..{self.n_classes - 1}, got {int(labels)}.")
            return torch.full((n,), int(labels), dtype=torch.int64, device=self.device)
        tensor = self._label_tensor(labels, name)
        if tensor.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"{name} must be integer class labels, got dtype {tensor.dtype}.")
        if tuple(tensor.shape) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(tensor.shape)}.")
        if n and not (0 <= int(tensor.min()) and int(tensor.max()) < self.n_classes):
            raise ValueError(f"{name} must be in 0..{self.n_classes - 1}.")
        return tensor.to(device=self.device, dtype=torch.int64)

    @staticmethod
    def _label_tensor(labels: Any, name: str) -> torch.Tensor:
        # Strings, objects and ragged lists fail inside torch with messages about numpy types.
        if isinstance(labels, np.ndarray) and labels.dtype.kind not in "biu":
            raise TypeError(
                f"{name} must be integer class labels, got a NumPy array of dtype {labels.dtype}; "
                "map class names to indices first (for example with DIGIT_CLASSES.index)."
            )
        try:
            return torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name} must be an int, an (n,) integer tensor or array, or None; got "
                f"{type(labels).__name__} {labels!r:.60}."
            ) from None

    # -- what every model provides ----------------------------------------------------------

    @abstractmethod
    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> torch.Tensor:
        """``n`` new images (or points): shape (n, …), drawn from the model."""

    def log_prob(self, x: torch.Tensor, labels: Any = None) -> torch.Tensor:
        """log p(x) per example, shape (N,), where the model defines it (a GAN does not)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no likelihood: it can be sampled but not scored."
        )

    @abstractmethod
    def loss(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training objective on one batch, as named 0-d tensors.

        ``batch`` is the list the loop passes: ``[x]`` or ``[x, labels]``, on the model's
        device. The key ``"loss"`` is the scalar that :meth:`training_step` minimises; the
        other keys are logged terms (e.g. a reconstruction term and a KL term).
        """

    def configure_optimizers(self, lr: float = 1e-3, **kwargs: Any) -> dict[str, Any]:
        """The optimisers of one training run, by name (one Adam over every parameter)."""
        return {"model": torch.optim.Adam(self.parameters(), lr=lr, **kwargs)}

    def training_step(
        self, batch: Sequence[torch.Tensor], optimizers: Mapping[str, Any]
    ) -> dict[str, float]:
        """One optimisation step on ``batch``: minimise ``loss(batch)["loss"]``.

        Returns the named terms as Python floats, for the loop's history.
        """
        (optimizer,) = optimizers.values()
        terms = self.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        return {key: float(value.detach()) for key, value in terms.items()}

    def check_training_data(self, data: Any, labels: Any = None) -> None:
        """Raise a clear error when ``data`` (and ``labels``) cannot train this model.

        The default checks that ``data`` is a floating tensor with at least one row and that
        labels are given exactly when the model is conditional.
        """
        if not isinstance(data, torch.Tensor) or not data.is_floating_point():
            raise TypeError(
                f"data must be a floating torch.Tensor, got {type(data).__name__}"
                + (f" of dtype {data.dtype}" if isinstance(data, torch.Tensor) else "")
                + "."
            )
        if len(data) == 0:
            raise ValueError("data must hold at least one example, got 0.")
        if self.conditional and labels is None:
            raise ValueError(f"this {type(self).__name__} is conditional: pass labels=.")
        if labels is not None:
            self.sample_labels(len(data), labels)
