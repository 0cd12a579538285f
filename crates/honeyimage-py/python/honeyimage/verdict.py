"""What :func:`honeyimage.verify` decided, with the evidence."""

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification; the same fields as
    ``honeyimage verify --json``."""

    verdict: bool
    """True: the suspect trained on the protected release (p < alpha)."""
    verdict_text: str
    p_value: float
    """The decision p-value: exact stratified rank test on the suspect's
    losses (Fisher's exact test in label-only mode)."""
    alpha: float
    method: str
    """The test that gave ``p_value`` and how it was computed."""
    effect_size: float
    """mean(loss W) - mean(loss R)."""
    cohens_d: Optional[float]
    mean_loss_released: float
    mean_loss_withheld: float
    permutation_p: float
    permutation_resolution: float
    mann_whitney_p: float
    n_released: int
    n_withheld: int
    queries: int
    """Images sent to the suspect."""
    tau_rule: Dict[str, Any]
    """The paper's rule: mean proxy-minus-suspect loss over R, against tau if given."""
    label_only: Dict[str, Any]
    """Top-1 correct counts on R and W and Fisher's one-sided p."""
    suspect: str
    commitment: str
    """The key's public commitment, so anyone can check which key was used."""
    losses_released: List[float] = field(repr=False)
    losses_withheld: List[float] = field(repr=False)
    smallest_p: float = float("nan")
    """The smallest p-value this key's test can give at all; at or above
    ``alpha`` no suspect can be flagged (protect with a larger N)."""

    @classmethod
    def from_json(cls, text: str) -> "Verdict":
        return cls(**json.loads(text))

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The verdict as ``honeyimage verify --json`` prints it."""
        return json.dumps(self.to_dict(), indent=indent)

    def __bool__(self) -> bool:
        return self.verdict

    def __repr__(self) -> str:
        lo = self.label_only
        return (
            f"Verdict: {self.verdict_text.upper()} ({self.suspect})\n"
            f"  p = {self.p_value:.3g} (alpha {self.alpha:g}), {self.method}\n"
            f"  mean loss R {self.mean_loss_released:.4f} vs W {self.mean_loss_withheld:.4f} (effect {self.effect_size:+.4f}), "
            f"N = {self.n_released} + {self.n_withheld}, {self.queries} queries\n"
            f"  label-only: top-1 correct R {lo['correct_released']}/{self.n_released}, W {lo['correct_withheld']}/{self.n_withheld}, Fisher p = {lo['fisher_p']:.3g}\n"
            f"  key commitment {self.commitment}"
        )
