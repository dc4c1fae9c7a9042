"""xlner: cross-lingual named-entity recognition with a compact bi-LSTM tagger.

`configuration_xlner.py` and `modeling_xlner.py` (with `tokenization/`) are the files copied
into every saved model as remote code; everything else here (data, metric, training, transfer,
CLI) is the package around them.
"""

from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoTokenizer

from tokenization.tokenization_xlner import XLNerTokenizer

from .configuration_xlner import TRANSFERABLE_MODULES, XLNerConfig
from .modeling_xlner import XLNerForTokenClassification, XLNerModel, XLNerPreTrainedModel

# With the package installed, the Auto classes know "xlner" without trust_remote_code; saving
# still writes `auto_map` and copies the code, so a saved model also loads without the package.
AutoConfig.register("xlner", XLNerConfig, exist_ok=True)
AutoModel.register(XLNerConfig, XLNerModel, exist_ok=True)
AutoModelForTokenClassification.register(XLNerConfig, XLNerForTokenClassification, exist_ok=True)
AutoTokenizer.register(XLNerConfig, slow_tokenizer_class=XLNerTokenizer, exist_ok=True)
XLNerConfig.register_for_auto_class()
XLNerModel.register_for_auto_class("AutoModel")
XLNerForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")
XLNerTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = [
    "TRANSFERABLE_MODULES",
    "XLNerConfig",
    "XLNerModel",
    "XLNerForTokenClassification",
    "XLNerPreTrainedModel",
    "XLNerTokenizer",
]
