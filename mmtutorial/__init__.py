"""mmtutorial: the helper package of *Multimodal Big Models, from first principles to working code*.

Every chapter of the book first builds a component in plain notebook cells, then imports the
version kept here and checks that the two agree. The modules follow the arc of the book; each
layer imports only the layers above it in this list:

==========================  ================================================================
``device``, ``presets``     setup: the device, seeds, mixed precision; CPU and GPU sizes
``data``                    datasets: ShapesWorld, AV-digits, Fashion-MNIST, spoken digits,
                            the word vocabulary, splits, ``DictDataset`` and the in-memory
                            ``DeviceLoader``
``preprocess``              from samples to inputs: audio features, image transforms, byte-pair
                            encoding, padding and collate, corruption and filters
``encoders``                what turns one modality into vectors: CNNs and a ViT for images,
                            bag of words, RNNs, a Transformer and MiniLM for text, CNNs for audio
``fusion``                  how modalities meet: concatenation, late fusion, sums, products,
                            tensor and low-rank fusion; cross-attention, gating, FiLM
``models``                  whole multimodal models: the seed's model corrected, a text-image
                            classifier with modality dropout, gradient modulation
``clip``                    a tiny CLIP: two towers in one embedding space, zero-shot prompts
``seq2seq``, ``ctc``        the encoder-decoder with attention (teacher forcing, greedy
                            decoding); CTC decoding and the acoustic model that reads speech
``vqa``                     visual question answering and reading text in images
``diffusion``, ``vae``      generating images from text: noise schedules, denoisers (an MLP
                            and a small U-Net), DDPM/DDIM sampling with classifier-free
                            guidance, editing; the conditional VAE it is compared with
``video``                   frame encoders and temporal models (pooling, GRU, attention),
                            keyframe selection and its F1, a clip captioner
``lm``, ``vlp``             a causal Transformer language model (sampling, beam search, the
                            key-value cache); image-text contrastive, matching and captioning
``lora``, ``mllm``          low-rank adapters; a LLaVA-style assistant, Flamingo's gated
                            cross-attention, POPE-style hallucination metrics
``privacy``                 membership inference: per-example losses, ROC AUC
``losses``, ``metrics``     cross-entropy and BCE from their equations, multi-task weights,
                            the contrastive (CLIP) loss; accuracy and the running mean,
                            Recall@K, edit distance and word/character error rates
``optim``                   warmup-cosine schedule, global gradient norm
``train``                   the ``Trainer``: the training loop of the chapter *Optimization
                            and the training loop*, line for line
``checkpoint``              exact resume beside it: random states, atomic saves, replay of a
                            stopped epoch, safe loading
``distributed``             the Trainer under ``torchrun``: DistributedDataParallel, sharded
                            loading, rank-0 checkpoints, FSDP, gradient accumulation, memory
                            accounting (``distributed_example`` is the launched script)
``benchmark``               the Trainer against a hand-written loop, as the chapter runs it
``plot``, ``widgets``       figures and interactive explorers
==========================  ================================================================

Chapters are named by title, never by number, so that inserting a chapter changes nothing here.

Validation policy: a public function checks what would otherwise go silently wrong or fail
deep inside torch with a confusing message (shapes, ranges, empty inputs, a loss that is not a
scalar, NaN or infinity where it would corrupt a result). A wrong type raises ``TypeError``, a
wrong value ``ValueError``, and the message names the argument and what it got. What Python
and torch already report clearly is left to them. The checks that repeat live in
``mmtutorial._checks``.
"""


def _version() -> str:
    """The version of pyproject.toml, the one place it lives: read there in a source checkout
    (current even before a reinstall), else from the installed distribution (a wheel, Colab)."""
    import pathlib
    import re
    from importlib import metadata

    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        if found and re.search(r'^name\s*=\s*"mmtutorial"', text, re.M):
            return found.group(1)
    try:
        return metadata.version("mmtutorial")
    except metadata.PackageNotFoundError:  # a bare copy of the folder, never installed
        return "0+unknown"


__version__ = _version()
del _version

from .device import autocast, get_device, seed_everything, to_device
from .presets import Preset, preset
from .train import Trainer

__all__ = [
    "__version__",
    "Preset",
    "Trainer",
    "autocast",
    "get_device",
    "preset",
    "seed_everything",
    "to_device",
]
