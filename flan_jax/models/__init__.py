"""Models: the interface (`api.Model`), the two families, their networks.

    api.py              the interface: shared fields, loss, scoring, search
    encoder_decoder.py  EncoderDecoderModel (T5 v1.1 networks, t5.py)
    decoder_only.py     DecoderOnlyModel (Llama-family networks, decoder.py)
"""
