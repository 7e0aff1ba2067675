"""Tests for membership inference (chapter *Tools, resources and where the field is going*):
mmtutorial.privacy (the per-pair contrastive loss, the ROC AUC and the TPR at a low FPR)."""

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve

from mmtutorial.clip import TinyCLIP
from mmtutorial.data import make_shapesworld
from mmtutorial.encoders.image import TinyCNN
from mmtutorial.encoders.text import BagOfWords
from mmtutorial.losses import clip_loss
from mmtutorial.privacy import per_pair_clip_loss, roc_auc, tpr_at_fpr
from gradients import assert_every_parameter_gets_a_gradient


# ----- per_pair_clip_loss --------------------------------------------------------------------
def test_per_pair_clip_loss_has_one_value_per_pair_and_its_mean_is_clip_loss():
    torch.manual_seed(0)
    logits = 10 * F.normalize(torch.randn(9, 8), dim=1) @ F.normalize(torch.randn(9, 8), dim=1).T
    per_pair = per_pair_clip_loss(logits)
    assert per_pair.shape == (9,)
    torch.testing.assert_close(per_pair.mean(), clip_loss(logits))


def test_per_pair_clip_loss_is_the_mean_of_the_row_and_column_cross_entropies():
    torch.manual_seed(1)
    logits = torch.randn(6, 6)
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels, reduction="none") + F.cross_entropy(logits.T, labels, reduction="none")) / 2
    torch.testing.assert_close(per_pair_clip_loss(logits), expected)


def test_per_pair_clip_loss_is_log_b_for_uniform_scores_and_half_precision_is_computed_in_float32():
    torch.testing.assert_close(per_pair_clip_loss(torch.zeros(4, 4)), torch.full((4,), torch.log(torch.tensor(4.0))))
    assert per_pair_clip_loss(torch.zeros(3, 3, dtype=torch.bfloat16)).dtype == torch.float32


def test_per_pair_clip_loss_gives_every_parameter_of_tinyclip_a_gradient():
    data = make_shapesworld(6, seed=0)
    torch.manual_seed(0)
    model = TinyCLIP(TinyCNN(16), BagOfWords(len(data.vocab)), 16, len(data.vocab), embed_dim=8)
    per_pair_clip_loss(model(data.images, data.tokens)).mean().backward()
    assert_every_parameter_gets_a_gradient(model)


def test_per_pair_clip_loss_rejects_bad_logits():
    with pytest.raises(ValueError, match="logits must be square"):
        per_pair_clip_loss(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="logits must be a floating-point tensor of shape"):
        per_pair_clip_loss(torch.zeros(3))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        per_pair_clip_loss(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="logits must not be empty"):
        per_pair_clip_loss(torch.zeros(0, 0))


# ----- roc_auc ---------------------------------------------------------------------------------
def test_roc_auc_equals_scikit_learn_with_and_without_ties():
    gen = torch.Generator().manual_seed(0)
    for scores in (torch.randn(300, generator=gen), torch.randint(0, 5, (300,), generator=gen).float()):
        is_member = torch.rand(300, generator=gen) < 0.4
        expected = roc_auc_score(is_member.numpy(), scores.numpy())
        assert abs(float(roc_auc(scores, is_member)) - expected) < 1e-12


def test_roc_auc_is_the_probability_that_a_member_outscores_a_non_member():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (40,), generator=gen).float()
    is_member = torch.arange(40) % 3 == 0
    pos, neg = scores[is_member], scores[~is_member]
    pairwise = ((pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()).mean()
    torch.testing.assert_close(roc_auc(scores, is_member), pairwise)


def test_roc_auc_is_one_for_separated_scores_zero_reversed_and_one_half_when_all_tie():
    is_member = torch.tensor([True, True, False, False, False])
    assert float(roc_auc(torch.tensor([5.0, 4.0, 1.0, 2.0, 3.0]), is_member)) == 1.0
    assert float(roc_auc(torch.tensor([0.0, -1.0, 1.0, 2.0, 3.0]), is_member)) == 0.0
    assert float(roc_auc(torch.ones(5), is_member)) == 0.5
    assert roc_auc(torch.ones(5), is_member).dtype == torch.float64


def test_roc_auc_rejects_one_class_mismatched_lengths_and_non_finite_scores():
    with pytest.raises(ValueError, match="both members"):
        roc_auc(torch.randn(4), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="both members"):
        roc_auc(torch.randn(4), torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="is_member must have one entry per score"):
        roc_auc(torch.randn(4), torch.tensor([True, False]))
    with pytest.raises(TypeError, match="is_member must be a bool tensor"):
        roc_auc(torch.randn(4), torch.tensor([1, 0, 1, 0]))
    with pytest.raises(ValueError, match="scores must be finite"):
        roc_auc(torch.tensor([0.0, float("nan"), 1.0]), torch.tensor([True, False, False]))
    with pytest.raises(ValueError, match="scores must not be empty"):
        roc_auc(torch.zeros(0), torch.zeros(0, dtype=torch.bool))


# ----- tpr_at_fpr ------------------------------------------------------------------------------
def test_tpr_at_fpr_matches_the_roc_curve_of_scikit_learn():
    gen = torch.Generator().manual_seed(2)
    is_member = torch.rand(2000, generator=gen) < 0.5
    scores = torch.randn(2000, generator=gen) + 1.0 * is_member
    fpr_curve, tpr_curve, _ = roc_curve(is_member.numpy(), scores.numpy())
    for fpr in (0.0, 0.01, 0.1, 0.5):
        expected = tpr_curve[fpr_curve <= fpr].max()
        assert abs(float(tpr_at_fpr(scores, is_member, fpr)) - expected) < 1e-12


def test_tpr_at_fpr_is_one_at_fpr_one_and_checks_its_argument():
    is_member = torch.tensor([True, False, True, False])
    scores = torch.tensor([0.0, 1.0, 2.0, 3.0])
    assert float(tpr_at_fpr(scores, is_member, 1.0)) == 1.0
    assert float(tpr_at_fpr(scores, is_member, 0.0)) == 0.0
    with pytest.raises(ValueError, match="fpr must be"):
        tpr_at_fpr(scores, is_member, 1.5)
