"""The tagger (Lample et al. 2016 / Ma & Hovy 2016) and its decoding.

The model takes the raw token strings ``[batch, words]`` (padded with ""), so
vocabulary and character lookups live inside it, and therefore inside
``model.keras`` and the SavedModel: word embedding (lower-cased lookup plus a
small casing embedding, or case-preserving; word dropout to learn the
unknown-word vector; optional pretrained vectors, or the embedding and the
recurrent block from language models, `common.pretrained`; or the frozen language models' states
beside it) + a char BiLSTM or char CNN
word encoder -> the shared recurrent block -> per-token emission scores -> a
linear-chain CRF (`common.layers.crf`) or softmax.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from common.data.batching import by_length
from common.layers.char_encoders import CharIds, char_encoder
from common.layers.crf import CRF, CRFTagger
from common.layers.recurrent import recurrent_block
from common.layers.word_dropout import WordDropout
from common.pretrained.transfer import assign_encoder, language_model_features
from tasks.ner.char_lm import char_lm_features
from tasks.ner.data import NERPrepared
from tasks.ner.layers import CASING_PATTERNS, PAD, Casing, Lowercase, TokenMask
from tasks.ner.tags import allowed_transitions


def build_model(config, prepared: NERPrepared):
    """The training graph: token strings in, emission scores (softmax) or a `CRFTagger` out."""
    m, state = config.model, prepared.state
    n_tags = len(state["tags"])
    tokens = keras.Input(shape=(None,), dtype="string", name="tokens")
    words = Lowercase(name="lowercase")(tokens) if m.lowercase else tokens
    ids = keras.layers.StringLookup(vocabulary=state["vocabulary"], mask_token=PAD, num_oov_indices=1,
                                    output_mode="int", name="word_lookup")(words)
    kept = WordDropout(m.word_dropout, seed=config.seed, name="word_dropout")(ids) if m.word_dropout else ids
    word_embedding = keras.layers.Embedding(len(state["vocabulary"]) + 2, m.embedding_dim, mask_zero=True,
                                            trainable=m.trainable_embeddings, name="word_embedding")
    features = [word_embedding(kept)]
    if prepared.embedding_matrix is not None:  # assigned, not a Constant initializer: keeps model.keras small
        word_embedding.embeddings.assign(prepared.embedding_matrix)
    lm_features = prepared.encoder is not None and m.pretrained_as == "features"
    if lm_features:  # the real words (not word-dropped ones): the LMs read the sentence as it is
        features.append(language_model_features(ids, prepared.encoder, m.rnn.implementation))
    if m.char_encoder != "none":
        chars = CharIds(state["chars"], m.max_word_chars, name="char_ids")(tokens)
        features.append(char_encoder(m.char_encoder, len(state["chars"]) + 2, m.char_dim, m.char_units)(chars))
    if prepared.char_lm is not None:
        features.append(char_lm_features(tokens, prepared.char_lm, m.rnn.implementation))
    if m.casing_dim:
        casing = Casing(name="casing")(tokens)
        features.append(keras.layers.Embedding(len(CASING_PATTERNS) + 2, m.casing_dim,
                                               name="casing_embedding")(casing))
    x = keras.layers.Concatenate(name="word_features")(features) if len(features) > 1 else features[0]
    x = TokenMask(name="token_mask")([x, ids])
    x = keras.layers.Dropout(m.dropout, name="feature_dropout")(x)
    block = recurrent_block(m.rnn, return_sequences=True)
    x = block(x)
    x = keras.layers.Dropout(m.dropout, name="output_dropout")(x)
    emissions = keras.layers.Dense(n_tags, dtype="float32", name="emissions")(x)
    if prepared.encoder is not None and not lm_features:  # the first layer's word rows; char/casing rows stay
        assign_encoder(word_embedding, block, prepared.encoder)
    if not m.crf:
        return keras.Model(tokens, emissions, name="ner_tagger")
    allowed = allowed_transitions(state["tags"], m.tag_scheme) if m.constrained_decoding else None
    return CRFTagger(tokens, CRF(n_tags, allowed=allowed, name="crf")(emissions), name="ner_tagger")


def tag_ids(model, tokens, use_crf: bool, constrained: bool):
    """Best tag ids ``[batch, words]`` and the validity mask for padded token strings: the one decoding
    that evaluation, the val-F1 callback and the export share."""
    valid = tf.not_equal(tokens, PAD)
    emissions = model(tokens, training=False)
    if use_crf:
        ids = model.crf.decode(emissions, valid, constrained=constrained)
    else:
        ids = tf.argmax(emissions, axis=-1, output_type=tf.int32)
    return ids, valid


def predict_tags(model, config, tags: list[str], sentences: list[list[str]], batch_size=128):
    """Model-scheme tags for tokenised sentences (batched by length so little is padded)."""
    m = config.model
    decode = tf.function(lambda t: tag_ids(model, t, m.crf, m.constrained_decoding),
                         input_signature=[tf.TensorSpec([None, None], tf.string)])

    def run(batch):
        width = max(1, max(len(s) for s in batch))
        ids, _ = decode(tf.constant([s + [PAD] * (width - len(s)) for s in batch], dtype=tf.string))
        return [[tags[j] for j in row[:len(s)]] for row, s in zip(ids.numpy(), batch)]

    return by_length(sentences, len, batch_size, run)
