"""The word module's inference cache of projected vectors (modeling_xlner.XLNerWordEmbeddings.projected_vectors)."""

import torch

from modeling_xlner import XLNerConfig
from modeling_xlner.modeling_xlner import XLNerWordEmbeddings


def _word_module() -> XLNerWordEmbeddings:
    torch.manual_seed(0)
    config = XLNerConfig(word_vocab_size=10, bigram_vocab_size=5, vector_vocab_size=6, vector_dim=3, word_embedding_dim=4, word_dropout=0.0)
    module = XLNerWordEmbeddings(config).eval()
    module.vectors.copy_(torch.randn(6, 3))
    return module


def test_without_gradients_the_cached_projection_gives_the_same_output():
    module = _word_module()
    ids, vector_ids = torch.tensor([[1, 2, 3]]), torch.tensor([[0, 5, 2]])
    expected = module.embeddings(ids) + module.vectors[vector_ids] @ module.vector_projection.weight.T  # by hand
    with torch.no_grad():
        assert torch.allclose(module(ids, vector_ids=vector_ids), expected, atol=1e-6)
    assert module._projected_vectors is not None  # the cached path was the one taken


def test_the_cache_follows_weight_updates_and_new_vectors():
    module = _word_module()
    ids, vector_ids = torch.tensor([[1, 2]]), torch.tensor([[4, 1]])
    with torch.no_grad():
        before = module(ids, vector_ids=vector_ids)
        module.vector_projection.weight.mul_(2.0)  # as an optimizer step would, in place
        doubled = module(ids, vector_ids=vector_ids)
        module.load_state_dict({**module.state_dict(), "vectors": torch.zeros(6, 3)})
        zeroed = module(ids, vector_ids=vector_ids)
    vector_part = before - module.embeddings(ids)
    assert torch.allclose(doubled - module.embeddings(ids), 2 * vector_part, atol=1e-6)
    assert torch.allclose(zeroed, module.embeddings(ids), atol=1e-6)


def test_a_fused_optimizer_step_between_evaluations_is_seen():
    """Fused AdamW updates weights without bumping their version; `train()` (called by Trainer before each step) drops the cache."""
    module = _word_module()
    ids, vector_ids = torch.tensor([[1, 2]]), torch.tensor([[4, 1]])
    with torch.no_grad():
        module(ids, vector_ids=vector_ids)  # fills the cache
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.5, fused=True)
    module.train()
    module(ids, vector_ids=vector_ids).sum().backward()
    optimizer.step()
    module.eval()
    with torch.no_grad():
        cached = module(ids, vector_ids=vector_ids)
    expected = module.embeddings(ids) + module.vectors[vector_ids] @ module.vector_projection.weight.T
    assert torch.allclose(cached, expected, atol=1e-6)
