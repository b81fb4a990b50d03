#!/usr/bin/env python3
"""Writes the binary parser fixtures of crates/atalaya-knowledge/tests/fixtures (a two-page PDF
with a text layer and a DOCX with headings, a list and a table). Their outputs are committed;
this script documents how they were made and regenerates them when changed:

    python3 -m venv /tmp/kfx && /tmp/kfx/bin/pip install fpdf2==2.8.3 python-docx==1.1.2
    /tmp/kfx/bin/python scripts/knowledge_fixtures.py crates/atalaya-knowledge/tests/fixtures
"""
import datetime
import sys
from pathlib import Path

import docx
from fpdf import FPDF


def pdf(out: Path) -> None:
    p = FPDF()
    p.set_creation_date(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    p.set_font("Helvetica", size=12)
    p.add_page()
    p.multi_cell(0, 8, "Router setup guide")
    p.ln(8)
    p.multi_cell(0, 8, "Plug the router into the wall socket. Wait until the light turns green.")
    p.ln(8)
    p.multi_cell(0, 8, "If the light blinks red, hold the reset button for ten seconds.")
    p.add_page()
    p.multi_cell(0, 8, "Warranty")
    p.ln(8)
    p.multi_cell(0, 8, "The warranty covers hardware faults for two years from the date of purchase.")
    p.output(str(out))


def word(out: Path) -> None:
    d = docx.Document()
    d.core_properties.created = datetime.datetime(2026, 1, 1)
    d.add_heading("Política de devoluciones", level=1)
    d.add_paragraph("Puede devolver cualquier producto en un plazo de 30 días.")
    d.add_heading("Cómo devolver", level=2)
    d.add_paragraph("Imprima la etiqueta de envío.", style="List Number")
    d.add_paragraph("Entregue el paquete en una oficina de correos.", style="List Number")
    t = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Producto", "Plazo"), ("Ropa", "30 días"), ("Electrónica", "15 días")]):
        t.cell(r, 0).text = a
        t.cell(r, 1).text = b
    d.add_heading("Reembolsos", level=2)
    d.add_paragraph("El reembolso llega a su tarjeta en 5 días hábiles.")
    d.save(str(out))


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pdf(out / "router-guide.pdf")
    word(out / "devoluciones.docx")


if __name__ == "__main__":
    main()
