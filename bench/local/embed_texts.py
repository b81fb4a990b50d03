#!/usr/bin/env python3
"""Writes the benchmark texts for embeddings (deterministic): 128 short inputs (~15 tokens)
and 64 long ones (~180 tokens), support-style English, Spanish and Portuguese.
usage: embed_texts.py OUT.json"""
import json
import random
import sys

SHORT = [
    "How do I reset my password?", "My order has not arrived yet.", "¿Dónde está mi pedido?",
    "Quero cancelar minha assinatura.", "The invoice amount is wrong.", "Can I change my delivery address?",
    "El cargo aparece duplicado en mi tarjeta.", "A fatura veio com valor errado.",
    "I was charged twice for the same order.", "How long does a refund take?",
    "No puedo iniciar sesión en la aplicación.", "O aplicativo fecha sozinho no Android.",
]
WORDS = ("customer order parcel refund invoice payment account password delivery address card reader "
         "replacement damaged late support ticket subscription cancel charge twice bank transfer warehouse "
         "pedido reembolso factura tarjeta envío dirección cuenta entrega assinatura fatura cartão entrega").split()


def main() -> int:
    rng = random.Random(42)
    short = []
    for i in range(128):
        base = SHORT[i % len(SHORT)]
        short.append(f"{base} Ref {rng.randint(1000, 9999)} {rng.choice(WORDS)}.")
    long = []
    for i in range(64):
        sents = []
        while len(" ".join(sents).split()) < 125:
            n = rng.randint(8, 16)
            sents.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        long.append(" ".join(sents))
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump({"short": short, "long": long}, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
