#!/usr/bin/env python3
"""Generate bench/guard/data/pii_multilingual.json: a deterministic, multilingual (es, pt-BR,
pt-PT, en) PII test set of customer-support messages, in the shape of Presidio's
synth_dataset_v2.json:

    [{"full_text": str, "lang": "es"|"pt-BR"|"pt-PT"|"en", "template_id": "es-012",
      "spans": [{"entity_type", "start_position", "end_position", "entity_value"}],
      "metadata": {"distractors": [...], "persons": [{"value", "origin"}]}}, ...]

Offsets are Python str indices (code points), end exclusive. Entity types are Atalaya's:
EMAIL PHONE CREDIT_CARD IBAN ES_DNI ES_NIE BR_CPF BR_CNPJ US_SSN IP_ADDRESS PERSON SECRET.

Every identifier with a checksum is valid (Luhn, IBAN mod-97 with valid national check digits for
ES/PT/FR, DNI/NIE letter, CPF/CNPJ digits, SSN ranges). Distractors carry no span: order and
tracking numbers, amounts, dates, times, versions, SKUs, invoices, tickets, look-alikes that FAIL
their checksum (card, CPF, CNPJ, DNI, NIE, IBAN, SSN), and capitalised non-names (products,
cities, weekdays, months, companies, streets). PERSON spans cover the name only (no "Sr."/"Dr.");
half of the persons come from common-name pools, half from pools chosen to be absent from
typical gazetteers (Basque, Catalan, Galician, Arabic, Slavic, Romanian, indigenous American,
Japanese-Brazilian, West African, ...); with crates/atalaya-guard/data/names present the script
warns if a "rare" token is in the gazetteer.

    python3 bench/guard/make_pii_multilingual.py [--seed 20240312] [--out PATH]

Standard library only; same seed -> byte-identical output.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import re
import string
import sys
import unicodedata
from collections import Counter
from pathlib import Path

SEED = 20240312
COUNTS = {"es": 250, "pt-BR": 150, "pt-PT": 100, "en": 100}
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "data" / "pii_multilingual.json"
GAZ = REPO / "crates" / "atalaya-guard" / "data" / "names"

# ============================================================================================
# Checksummed identifiers
# ============================================================================================


def luhn_ok(num: str) -> bool:
    s = 0
    for i, ch in enumerate(reversed(num)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        s += d
    return s % 10 == 0


def luhn_complete(payload: str) -> str:
    for c in "0123456789":
        if luhn_ok(payload + c):
            return payload + c
    raise AssertionError


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(n: int) -> str:
    return DNI_LETTERS[n % 23]


def cpf_check(base9: str) -> str:
    d = [int(c) for c in base9]
    for n in (10, 11):
        s = sum(v * w for v, w in zip(d, range(n, 1, -1)))
        r = (s * 10) % 11
        d.append(0 if r == 10 else r)
    return "".join(map(str, d))


def cnpj_check(base12: str) -> str:
    d = [int(c) for c in base12]
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for w in (w1, [6] + w1):
        s = sum(v * x for v, x in zip(d, w))
        r = s % 11
        d.append(0 if r < 2 else 11 - r)
    return "".join(map(str, d))


def iban_check_digits(country: str, bban: str) -> str:
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(num) % 97:02d}"


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    num = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(num) % 97 == 1


def es_ccc_dc(bank: str, branch: str, account: str) -> str:
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]

    def dc(digits: str) -> str:
        r = 11 - sum(int(a) * b for a, b in zip(digits, w)) % 11
        return str({11: 0, 10: 1}.get(r, r))

    return dc("00" + bank + branch) + dc(account)


def ssn_ok(s: str) -> bool:
    d = re.sub(r"\D", "", s)
    a, g, n = d[:3], d[3:5], d[5:]
    return a not in ("000", "666") and a[0] != "9" and g != "00" and n != "0000"


# ============================================================================================
# Pools
# ============================================================================================

# Given names are "male ... / female ...".
COMMON = {
    "es": (
        "José Antonio Javier David Carlos Pablo Sergio Alejandro Manuel Daniel Jorge Francisco Miguel "
        "Andrés Alberto Fernando Rubén Diego Adrián / María Carmen Ana Laura Lucía Marta Elena Cristina "
        "Paula Isabel Raquel Silvia Beatriz Patricia Natalia Teresa Sara Irene Nuria",
        "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Jiménez Ruiz "
        "Hernández Díaz Álvarez Romero Alonso Gutiérrez Navarro Domínguez Vázquez Gil Ramírez "
        "Serrano Molina Beltrán Ortega Castro Ortiz Marín Sanz Medina Cabrera Herrera Vidal Fuentes",
    ),
    "pt-BR": (
        "João Pedro Lucas Gabriel Rafael Gustavo Felipe Bruno Thiago Rodrigo Matheus Vinícius Eduardo "
        "Leonardo Marcelo / Maria Ana Mariana Juliana Fernanda Beatriz Camila Larissa Letícia Carla "
        "Patrícia Vanessa Priscila Renata Daniela Bianca",
        "Silva Santos Oliveira Souza Pereira Costa Rodrigues Almeida Nascimento Lima Araújo Fernandes "
        "Carvalho Gomes Martins Rocha Ribeiro Alves Monteiro Mendes Barros Freitas Barbosa Pinto "
        "Moura Cavalcanti Teixeira Correia Vieira Cardoso",
    ),
    "pt-PT": (
        "João Tiago Duarte Gonçalo Rui Nuno Diogo Rodrigo Pedro Miguel Afonso Bruno / Maria Ana Inês "
        "Rita Francisca Mafalda Joana Beatriz Catarina Sofia Leonor Margarida Filipa",
        "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Sousa Fernandes Gonçalves "
        "Gomes Lopes Marques Alves Almeida Ribeiro Pinto Carvalho Teixeira Moreira Correia Mendes "
        "Nunes Soares Vieira Monteiro Cardoso",
    ),
    "en": (
        "James Robert Michael David John Daniel Matthew Christopher Andrew Kevin Brian Steven / Mary "
        "Jennifer Linda Sarah Emily Jessica Ashley Olivia Emma Megan Laura Rachel Nicole Amanda",
        "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Anderson Thomas Moore Jackson "
        "Martin Thompson White Harris Clark Lewis Robinson Walker Hall Allen Wright Scott Mitchell",
    ),
}

# (origin, "male / female" given names, surnames): chosen to be absent from Faker-derived
# gazetteers (checked against crates/atalaya-guard/data/names when present).
RARE = {
    "es": [
        ("basque", "Iñaki Unai Gorka Asier Eneko Xabier Ander Ibai Urko Kepa Ekaitz / Ainhoa Amaia Oihane "
         "Garazi Maialen Irati Idoia Nekane Haizea Edurne Garbiñe",
         "Etxeberria Zubizarreta Goikoetxea Agirre Olabarria Etxebarria Aranburu Gorostiza Ibarguren "
         "Mendizabal Arrizabalaga Oiartzabal Ugalde Azkarate Lasarte"),
        ("catalan", "Oriol Pau Quim Ferran Biel Jofre Pere / Laia Roser Meritxell Aina Txell Montse",
         "Puigvert Sabaté Fàbregas Tarragó Bertran Cardús Soldevila Rigau Puigdomènech Masdeu Vilaró"),
        ("galician", "Xoán Breixo Brais Anxo Xurxo Xián Uxío / Uxía Antía Xiana Sabela Iria",
         "Outeiro Castiñeira Louzán Vilariño Seoane Rivadulla Barreiro Bouzas Souto Regueiro Lousada Ferreiro"),
        ("arabic", "Youssef Hamza Rachid Karim Ayoub Hicham Said Mehdi / Khadija Amina Samira Zineb Imane Soukaina",
         "El Amrani|Benali|Ait Ouali|Bouazza|El Idrissi|Haddad|Mansouri|Benjelloun|Chaoui|El Khattabi|Tahiri|Alaoui|Ziani|Belkacem"),
        ("slavic-romanian", "Dmytro Bogdan Mihai Vasyl Yaroslav Radu / Oksana Ioana Katarzyna Andreea Olena Iryna Svetlana",
         "Kovalenko Shevchuk Popescu Dumitrescu Petrović Stanciu Ionescu Bondarenko Melnyk Tkachenko Moldovan Kowalczyk Horvat"),
        ("andean-mapuche", "Yupanqui Inti Amaru Wayra / Quilla Ayelén Anahí Sumaq Killari Ñusta Rayén Millaray",
         "Huenchul Mamani Condori Ñancupil Quispe Huanca Llanquileo Catrileo Choque Ticona Coñuecar Apaza"),
    ],
    "pt-BR": [
        ("tupi-indigenous", "Ubiratan Kauã Raoni Iberê Aruanã Ubirajara / Araci Jaciara Potira Moema Jurema "
         "Tainá Iracema Jaci Arani",
         "Potiguara Tupinambá Guajajara Pataxó Kaingang Terena Xavante Krenak Baniwa Munduruku Yawanawá Tikuna"),
        ("japanese-brazilian", "Haruki Hiroshi Kenji Takashi Kazuo Noboru / Yumi Akemi Sayuri Emiko Midori",
         "Nakamura Tanaka Yamamoto Sato Kobayashi Watanabe Okamoto Hayashi Matsumoto Takahashi Fujita Inoue"),
        ("lebanese-syrian", "Khalil Nagib Fuad Nabil Youssef Munir Salim / Jamile Samira Rania",
         "Haddad Maluf Nassif Nader Sarkis Kassab Chaib Abdalla Mattar Hajjar"),
        ("ukrainian-polish", "Volodymyr Bohdan Taras Wojciech Stanisław / Oksana Halyna Iryna Jadwiga",
         "Hnatyshyn Kowalczuk Boiko Melnyk Szczepański Wiśniewski Dudek Kravchuk Grzybowski"),
    ],
    "pt-PT": [
        ("cape-verdean-angolan", "Kiluanji Ndala Adilson Ngola Kiala Manelito / Nzinga Djamila Edmira",
         "Mbemba Semedo Fortes Landim Furtado Kiangebeni Cambuta Kitumba Van-Dúnem"),
        ("guinean", "Mamadu Braima Sadjo Umaro / Aissatu Fatumata Mariama Binta",
         "Baldé Djaló Embaló Mané Seidi Camará Sanhá Injai"),
        ("ukrainian", "Taras Dmytro Oleksandr Serhiy / Olena Yulia Nataliya Viktoriya",
         "Bondarenko Melnyk Savchenko Kovalchuk Tkachenko Shevchenko Lysenko Hrytsenko"),
        ("nepali-indian", "Bishnu Rajesh Deepak Prakash / Sushila Anjali Sunita Kamala",
         "Thapa Gurung Shrestha Tamang Adhikari Bhandari Pokharel Rai"),
    ],
    "en": [
        ("nigerian", "Chukwuemeka Oluwaseun Babatunde Obinna / Ngozi Adaeze Folasade Chiamaka",
         "Okonkwo Adeyemi Eze Nwachukwu Okafor Balogun Olaniyan Onyekachi"),
        ("south-asian", "Venkatesh Raghunath Srinivas Harpreet / Priyanka Lakshmi Anusha Deepika",
         "Subramanian Raghunathan Venkataraman Krishnamurthy Chakraborty Bhattacharya Ramaswamy Iyengar"),
        ("east-african-armenian-greek", "Abdirahman Tigran Panagiotis / Hodan Anush Eleni Warsan",
         "Warsame Hakobyan Papadopoulos Abdullahi Karapetyan Georgiou Farah Mohamud"),
        ("native-pacific", "Ahiga Keoni Makoa Kanoa / Kalani Nizhoni Leilani Onawa",
         "Begaye Kahananui Yazzie Tsosie Kealoha Benally Akana Nakai"),
    ],
}


def given_pool(s: str, gender: str | None) -> list[str]:
    m, f = s.split(" / ")
    return {"m": m.split(), "f": f.split()}.get(gender, m.split() + f.split())


def pool(s: str) -> list[str]:
    return s.split("|") if "|" in s else s.split()


STREETS = {
    "es": ["Calle Mayor", "Gran Vía", "Calle de Alcalá", "Paseo de la Castellana", "Avenida Diagonal",
           "Rambla de Catalunya", "Calle Doctor Fleming", "Avenida Reina Victoria", "Calle San Vicente Ferrer",
           "Calle Colón", "Avenida de la Constitución", "Plaza de España"],
    "pt-BR": ["Avenida Paulista", "Rua Augusta", "Rua Barão de Jaguara", "Avenida Presidente Vargas",
              "Rua Marechal Deodoro", "Avenida Getúlio Vargas", "Rua XV de Novembro", "Rua Oscar Freire",
              "Avenida Brigadeiro Faria Lima", "Rua Dom Pedro II"],
    "pt-PT": ["Avenida da Liberdade", "Rua Augusta", "Rua de Santa Catarina", "Avenida dos Aliados",
              "Rua Garrett", "Avenida Almirante Reis", "Rua Direita", "Praça Marquês de Pombal",
              "Rua Dom João V", "Avenida de Roma"],
    "en": ["Main Street", "Elm Street", "Washington Avenue", "Martin Luther King Jr. Blvd", "Lincoln Road",
           "Jackson Street", "Madison Avenue", "Park Lane", "Sunset Boulevard", "King Street"],
}
CITIES = {
    "es": ["Valencia", "Sevilla", "Bilbao", "Zaragoza", "Málaga", "Santiago de Compostela", "Salamanca",
           "Vitoria", "Santander", "León", "Lima", "Santa Cruz de Tenerife", "Palma", "Granada"],
    "pt-BR": ["São Paulo", "Salvador", "Santos", "Curitiba", "Florianópolis", "Vitória", "Belo Horizonte",
              "Recife", "Porto Alegre", "Natal", "Campinas", "Maringá"],
    "pt-PT": ["Lisboa", "Porto", "Braga", "Coimbra", "Faro", "Aveiro", "Setúbal", "Viseu", "Guimarães",
              "Vila Nova de Gaia", "Funchal"],
    "en": ["Austin", "Houston", "Denver", "Madison", "Jackson", "Phoenix", "San Jose", "Charlotte",
           "Orlando", "Savannah", "Raleigh", "Portland"],
}
COMPANIES = {
    "es": ["Banco Santander", "El Corte Inglés", "Correos", "Movistar", "Iberdrola", "BBVA", "CaixaBank",
           "Mercadona", "Vodafone España", "Telepizza", "Renfe", "Seguros Santa Lucía"],
    "pt-BR": ["Itaú Unibanco", "Mercado Livre", "Nubank", "Bradesco", "Magazine Luiza", "Casas Bahia",
              "Vivo", "Claro", "Banco do Brasil", "Caixa Econômica Federal", "Americanas"],
    "pt-PT": ["Caixa Geral de Depósitos", "Millennium BCP", "CTT", "MEO", "NOS", "EDP", "Continente",
              "Pingo Doce", "Worten", "Banco Santander Totta", "Fnac"],
    "en": ["Wells Fargo", "Chase", "Bank of America", "Best Buy", "Home Depot", "Costco", "Verizon",
           "T-Mobile", "Walmart", "Jackson Hewitt", "Johnson & Johnson"],
}
COMPANY_GENERIC = ["Alfa Comércio", "Rocha & Filhos", "Boa Vista Alimentos", "Nova Era Tecnologia",
                   "Souza Transportes", "Mineira Distribuidora", "Horizonte Serviços"]
PRODUCTS = ["iPhone 15 Pro", "Galaxy S23", "Smart TV Samsung", "Kindle Paperwhite", "MacBook Air",
            "Router Livebox", "PlayStation 5", "Xiaomi Redmi Note 12", "Windows 11", "Office 365",
            "Plan Fibra Max", "Apple Watch", "Fire TV Stick", "Echo Dot", "Moto G84", "Pixel 8"]
WEEKDAYS = {"es": "lunes martes miércoles jueves viernes sábado domingo".split(),
            "pt-BR": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo".split(),
            "pt-PT": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo".split(),
            "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()}
MONTHS = {"es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
          "pt-BR": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro".split(),
          "pt-PT": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro".split(),
          "en": "January February March April May June July August September October November December".split()}
EMAIL_DOMAINS = {
    "es": ["gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net", "empresa.es"],
    "pt-BR": ["gmail.com", "hotmail.com", "yahoo.com.br", "uol.com.br", "bol.com.br", "outlook.com"],
    "pt-PT": ["gmail.com", "sapo.pt", "hotmail.com", "outlook.pt", "netcabo.pt"],
    "en": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "acme-corp.com"],
}

# ============================================================================================
# Templates. One per line; "\n" = newline. "BR|", "PT|" restrict a pt template to one variant.
# {name}/{name2} full name, {first}/{first2} given name, {surname} surname, {name_lc} lowercase
# name: PERSON. Other PII: email phone phone_intl phone2 phone_landline card card_amex iban iban_x
# dni nie cpf cpf_bare cnpj cnpj_bare ssn ssn_bare ipv4 ipv4_2 ipv6 secret secret_aws secret_gh
# secret_slack secret_stripe pem. Everything else is a distractor (no span).
# ============================================================================================

TEMPLATES_ES = r"""
Hola, soy {name}, mi DNI es {dni} y mi teléfono {phone_intl}.
Buenos días, me llamo {name} y no puedo acceder a mi cuenta. Mi correo es {email}.
Mi nombre es {name}, con NIE {nie}. Llamadme al {phone} por favor.
Quiero cambiar la domiciliación a la cuenta {iban}. Titular: {name}.
He pagado con la tarjeta {card} y me han cobrado dos veces el pedido {order}.
Por favor, anulad el cargo de {amount} en mi tarjeta terminada en {last4}.
El envío con número de seguimiento {tracking} sigue en Correos desde el {date}.
Saludos,\n{name}
Un saludo,\n{name}\nTel. {phone}
Estimados señores: les escribe {name} en relación con la factura {invoice} de {amount}.
Dña. {name.f} solicita la baja del servicio. DNI: {dni}.
El Sr. {surname.m} ha llamado tres veces; su móvil es el {phone}.
¿Podéis confirmar que el IBAN {iban} es correcto? Lo necesito cuanto antes.
Os paso mi NIE, {nie}, y mi email {email} para el alta.
La app se cierra al abrir el carrito. Mi usuario es {email}.
Desde la IP {ipv4} no puedo entrar al panel, me da error 403.
Nuestro servidor ({ipv6}) no recibe los webhooks desde ayer.
Ojo, sin querer pegué la clave de la API en el ticket: {secret}. ¿Podéis borrarla?
Adjunto la configuración:\nOPENAI_API_KEY={secret}\nMODEL=gpt-4o
El número {bad_card} que me aparece en el extracto no es mi tarjeta, la mía es {card}.
He intentado pagar con {bad_card} pero la web dice que no es válida.
Me dice que el DNI {bad_dni} es incorrecto, ¿qué hago?
El IBAN {bad_iban} me lo rechaza el formulario. ¿Puede ser un error vuestro?
Pedido {order} del {date}: faltan dos unidades del {sku}. Importe: {amount}.
Hola, el {product} que compré en {city} no enciende. Ticket {ticket}.
El técnico vino el {weekday} a las {time} pero no trajo el repuesto {sku}.
Trabajo en {company} y necesito la factura a nombre de la empresa, no a nombre de {name}.
Mi dirección es {street} 14, 3º B, {city}. Contacto: {name}, {phone}.
me llamo {name_lc} y quiero darme de baja
Buenas tardes. Soy {first.f}, la hija de {name2.f}. Mi madre no puede llamar, su teléfono es {phone}.
Para la devolución usad esta cuenta: {iban} (a nombre de {name}).
Cliente: {name}\nDNI: {dni}\nTeléfono: {phone}\nEmail: {email}
Confirmo mis datos: {name}, NIE {nie}, tarjeta {card}.
El Dr. {name.m} nos pidió el informe; enviadlo a {email}.
Necesito que me devolváis el dinero. Pagué con la tarjeta {card}.
No reconozco el cargo de {amount} del {date} en la cuenta {iban}.
Llamad a mi marido, {name.m}, al {phone}; yo estoy de viaje en {city}.
Mi usuario {email} ha sido bloqueado tras cambiar la contraseña desde {ipv4}.
Os reenvío el log:\n[{date_iso} {time}] auth ok user={email} ip={ipv4}
¿Cómo cambio el titular de la línea {phone}? El nuevo titular es {name}, DNI {dni}.
Hola! Soy {name} 😊 os escribo porque el {product} llegó roto.
Atentamente,\n{name}\n{company}
Gracias por todo, {first}. Quedo pendiente de la factura {invoice}.
La clave privada del certificado se subió por error al repositorio:\n{pem}
Tenemos una clave de AWS expuesta ({secret_aws}) en un commit de ayer; rotadla, por favor.
El token de Slack {secret_slack} dejó de funcionar ayer.
Mi hermano {name.m} tiene la tarjeta {card} caducada, ¿puede pedir otra?
{weekday_cap} y {weekday} sin internet en {city}. Reclamación {ticket}.
Buenas, el paquete {tracking} pone entregado pero no lo tengo. Vivo en {street} 7, {city}.
Factura {invoice}: base {amount}, IVA 21 %. Pagada el {date} a {company}.
Hola {first}, gracias por responder. Te paso el número de pedido: {order}.
Soy {name} y trabajo con {name2} en el proyecto; los dos usamos la misma cuenta ({email}).
A la atención de D. {name.m}: su nueva tarjeta {card} se enviará a {city}.
¿Me podéis llamar al {phone_intl} o al {phone2}? Pregunten por {first}.
Me aparece un cargo de {amount} de {company} en la tarjeta {card}.
El {product} con la versión {version} no sincroniza con el {product2}.
¿A qué hora abre la tienda de {street} en {city} el {weekday}?
Quiero ampliar el plan a {product}; ¿cuánto cuesta al mes? ¿{amount}?
El pedido {order} se ha quedado en "pendiente" desde el {date}. ¿Lo revisáis?
La transferencia desde {iban_x} (cuenta en el extranjero) no ha llegado. Ordenante: {name}.
Soy {name}, cliente desde 2015. Cambiad mi teléfono {phone} por el {phone2}.
Me llamo {name}. Tarjeta Amex {card_amex}, caduca el {expiry}.
Nuestro proxy sale por {ipv4} y {ipv4_2}; añadidlas a la lista blanca.
Soy {name}; el token {secret_gh} de GitHub que me disteis caduca mañana.
Hola, buenas. Con el DNI {dni} no me deja registrarme, dice que ya existe.
Buenos días, Sra. {surname.f}: le confirmamos la cita del {date} a las {time}.
Mi madre, {name.f}, NIE {nie}, necesita acceso a la cuenta {iban}.
El cargo de {amount} corresponde a la suscripción {product}; no es fraude.
Revisad el ticket {ticket}: la app de {company} falla con la {version}.
¿Cuánto tarda una transferencia a {company}? El importe es {amount}.
Escribo desde {city}. Mi nombre: {name}. Móvil: {phone}. Sin más, gracias.
{name} | {company} | {phone}
El NIE {bad_nie} no lo acepta la web, pero es el que pone en mi tarjeta de residencia.
Pagué {amount} con la tarjeta {bad_card} y otra vez con {card}, ¿me devolvéis uno?
DNI {dni} a nombre de {name}. ¿Podéis actualizar el contrato?
Mi NIE antiguo era {nie} y ahora tengo DNI {dni}; cambiadlo en la ficha, por favor.
"""

TEMPLATES_PT = r"""
BR|Olá, meu nome é {name} e não consigo acessar minha conta. Meu e-mail é {email}.
BR|Meu CPF é {cpf} e o telefone é {phone}.
BR|O CNPJ da empresa é {cnpj}; a nota fiscal {invoice} saiu errada.
BR|Boa tarde! Sou a {name.f}, CPF {cpf_bare}, e o boleto de {amount} venceu em {date}.
BR|Me chamo {name}, celular {phone_intl}. Podem me ligar à tarde?
BR|Cadastro: {name} / CPF: {cpf} / Nascimento: {date} / Tel: {phone}
BR|Fiz um Pix de {amount} para a {company} e não caiu.
BR|O pedido {order} do {product} ainda não chegou. Código de rastreio: {tracking}.
BR|Minha conta no exterior é {iban_x}; titular {name}.
BR|Quero cancelar o cartão {card}, foi clonado ontem.
BR|Atenciosamente,\n{name}\n{company}
BR|Abs,\n{first}
BR|Oi, tudo bem? Sou o {name.m}, da {company}. CNPJ {cnpj_bare}.
BR|O CPF {bad_cpf} aparece como inválido no app, mas eu digitei certo??
BR|Tentei pagar com o cartão {bad_card} e deu recusado.
BR|meu nome é {name_lc} e quero falar com um atendente
BR|A Dra. {name.f} pediu o reembolso de {amount}. Conta: {iban}.
BR|Segue o log do servidor ({ipv4}) às {time}: token={secret}
BR|Moro na {street}, {num}, em {city}. Telefone fixo {phone_landline}.
BR|O Sr. {surname.m} ligou do número {phone} pedindo segunda via da fatura {invoice}.
BR|Por favor atualizem meu e-mail para {email} (CPF {cpf}).
BR|O CNPJ {bad_cnpj} não passa na validação do site.
BR|Minha mãe, {name.f}, precisa de acesso. CPF dela: {cpf}.
BR|A chave Pix é o meu e-mail {email} ou o celular {phone}.
BR|{weekday_cap} é feriado em {city}? A loja da {street} abre?
BR|Comprei um {product} por {amount} em {date} e veio com defeito.
BR|Nosso servidor em {ipv6} não recebe as notificações do webhook.
BR|Pessoal, vazou a chave da AWS {secret_aws} num commit. Alguém revoga?
BR|Empresa: {company_generic} LTDA\nCNPJ: {cnpj}\nResponsável: {name}\nTelefone: {phone}
BR|Olá {first}, obrigado! O protocolo é {ticket}.
BR|Sou {name}, CPF {cpf}, cartão final {last4}.
BR|Meu cartão {card} foi cobrado duas vezes: {amount} e {amount2}.
BR|O app trava no login. Usuário: {email}.
BR|Sou {name} e meu irmão é {name2.m}; nós dois usamos o e-mail {email}.
BR|Em anexo o comprovante: Pix de {amount} para {name}, chave {cpf}.
BR|O entregador deixou o pacote {tracking} na portaria da {street}.
BR|Oi! Aqui é a {first.f} de novo. Meu CPF é {cpf_bare} e o pedido é o {order}.
BR|Protocolo {ticket}: o CPF {bad_cpf} e o CNPJ {cnpj} estão no mesmo cadastro?
PT|Olá, chamo-me {name} e não consigo aceder à minha conta. O meu email é {email}.
PT|Bom dia, sou o {name.m}, o meu telemóvel é o {phone}.
PT|Sou a {name.f}, cliente há 5 anos. O IBAN para o reembolso é {iban}.
PT|Com os melhores cumprimentos,\n{name}
PT|Cumprimentos,\n{first}
PT|A encomenda {order} ainda não chegou; nos CTT aparece {tracking}.
PT|O débito de {amount} na conta {iban} não foi autorizado por mim.
PT|Exmos. Senhores, o Sr. {surname.m} pediu a fatura {invoice} em nome da empresa.
PT|O meu cartão {card} foi recusado no multibanco ontem à noite.
PT|Liguem-me para o {phone_intl} depois do almoço, por favor.\n{first}
PT|Para a transferência usem o IBAN {iban}, titular {name}.
PT|O IBAN {bad_iban} dá erro no homebanking.
PT|A morada é {street} 120, {city}. Contacto: {name}, {phone}.
PT|A Dra. {name.f} precisa da segunda via do contrato; email {email}.
PT|Na {weekday} a loja de {city} estava fechada. Porquê?
PT|A app ({version}) não abre no {product}. Já reinstalei.
PT|Deixei a chave privada num ticket, apaguem por favor:\n{pem}
PT|O token do GitHub {secret_gh} ficou exposto no repositório público.
PT|O acesso a partir do IP {ipv4} está bloqueado desde ontem.
PT|chamo-me {name_lc}, quero mudar de tarifário
PT|A minha mulher, {name.f}, também é titular. Telemóvel dela: {phone}.
PT|Fatura {invoice} de {amount}, paga por referência multibanco em {date}.
PT|Fui cobrado {amount} pela {company}; tenho o cartão {card}.
PT|Nome: {name}\nTelemóvel: {phone}\nEmail: {email}\nIBAN: {iban}
PT|Sou {name} e o meu irmão, {name2.m}, também quer aderir.
PT|Bom dia. O NIF está certo; o IBAN {iban} é que aparece como inválido no vosso site.
PT|O número fixo de casa é o {phone_landline}; o meu nome é {name}.
PT|A chave da Stripe {secret_stripe} foi publicada por engano.
*|Quero cancelar a assinatura do {product}. Pedido {order}.
*|Segue a chave da API que estava no código: {secret}. Revoguem, por favor.
*|O token do Slack {secret_slack} deixou de funcionar.
*|O cartão Amex {card_amex} foi bloqueado. Titular: {name}.
*|O número {bad_card} não é do meu cartão, deve ser engano.
*|Obrigado, {first}! Até breve.
*|{name} | {company} | {phone}
*|Vou estar em {city} de {date} a {date2}; liguem para {phone}.
*|Encaminho a mensagem de {name} ({email}) sobre a fatura {invoice}.
*|A fatura {invoice} veio com o valor {amount}, mas o combinado era {amount2}.
*|Transferência de {iban_x} recusada. Ordenante: {name}.
*|Adicionem os IPs {ipv4} e {ipv4_2} à whitelist.
*|Versão {version} instalada, mas o {product} continua sem som desde {date}.
*|A {company} cobrou {amount} no dia {date}; o número do pedido é {order}.
*|O IBAN {bad_iban} foi rejeitado, mas o {iban} funcionou.
BR|CPF: {cpf_bare}\nCNPJ: {cnpj}\nNome: {name}
BR|Preciso emitir a nota no CNPJ {cnpj_bare}, razão social {company_generic} ME.
"""

TEMPLATES_EN = r"""
Hi, my name is {name} and I can't log into my account. My email is {email}.
This is {name}; please call me back at {phone}.
My SSN is {ssn} - do you really need it for verification?
I was charged twice on my card {card} for order {order}.
Please refund {amount} to my Visa {card}.
Thanks,\n{name}
Best regards,\n{name}\n{company}
Cheers,\n{first}
Mr. {surname.m} called from {phone} about invoice {invoice}.
Dr. {name.f} asked us to update her email to {email}.
Our API key leaked in a public repo: {secret}. Please revoke it ASAP.
Here's my config:\nAWS_ACCESS_KEY_ID={secret_aws}\nREGION=us-east-1
The Slack bot token {secret_slack} stopped working yesterday.
I accidentally pasted our private key in the chat:\n{pem}
GitHub token {secret_gh} should be rotated.
Requests from {ipv4} are being blocked with a 429 since this morning.
Our server at {ipv6} isn't receiving webhooks.
The tracking number {tracking} hasn't updated since {weekday_cap}.
My order {order} from {date} is still pending. Total was {amount}.
The app crashes on version {version} on my {product}.
The card number {bad_card} on the receipt isn't mine.
Is SSN {bad_ssn} valid? The form rejects it.
Please wire the refund to {iban_x}, account holder {name}.
Customer: {name}\nPhone: {phone}\nEmail: {email}\nSSN: {ssn}
i'm {name_lc} and i need help with my bill
My wife {name.f} is also on the account; her cell is {phone_intl}.
I live at {street} 1200, {city}. Can you update my address?
Hello, I'm {name} from {company}. Our billing contact is {email}.
Please cancel the {product} subscription; invoice {invoice}.
Hi {first}, thanks for the quick reply! Ticket {ticket}.
Ms. {surname.f} requested a callback between {time} and {time2}.
Card on file: {card_amex} (Amex). Name on card: {name}.
Sincerely,\n{name}\n{phone}
Can you whitelist {ipv4} and {ipv4_2}?
Our Stripe key {secret_stripe} was exposed in a log file.
SKU {sku} arrived damaged; can I get a replacement for order {order}?
I moved to {city} in {month}; please update my phone to {phone}.
Mark the ticket as resolved, {first}.
Will someone call me back? My number is {phone}.
May I change the card on file to {card}?
Grace period ended on {date}; please waive the {amount} late fee.
Bill me at the end of {month}, not on {weekday_cap}.
Rose Bowl tickets, order {order}, were never delivered.
My daughter {name.f} (SSN {ssn}) needs to be added as an authorized user.
Please send the W-9 to {email}.
The IBAN {bad_iban} was rejected by your form.
{first2} from {company} told me to email {email}.
I sent {amount} via Zelle to {name} and it never arrived.
Dear {name},\nyour card ending in {last4} has been replaced.
Flight on {weekday_cap}, {month} 3 - can I get a refund? Booking {order}.
The login attempt came from {ipv4}, it wasn't me.
Password reset link goes to {email}, which I no longer use.
Contact: {name} | {phone} | {email}
Both {name} and {name2} need admin access.
My SSN is {ssn_bare}, DOB {date}.
Apple Pay with card {card} failed at {company}.
Regards,\n{name}\nSent from my {product}
The Chase card {card} was declined.
Hi, this is {name} with {company}; my direct line is {phone}.
Our European account {iban_x} is the one to refund.
Our {product} renewal on {date} charged {amount} instead of {amount2}.
Version {version} broke SSO for everyone at {company}.
The number {bad_ssn} isn't my social, mine is {ssn}.
SSN: {ssn}\nDOB: {date}
For the tax form: SSN {ssn}, name {name}.
"""

PII_KEYS = {
    "name": "PERSON", "name2": "PERSON", "first": "PERSON", "first2": "PERSON", "surname": "PERSON",
    "name_lc": "PERSON", "email": "EMAIL", "phone": "PHONE", "phone_intl": "PHONE", "phone2": "PHONE",
    "phone_landline": "PHONE", "card": "CREDIT_CARD", "card_amex": "CREDIT_CARD", "iban": "IBAN",
    "iban_x": "IBAN", "dni": "ES_DNI", "nie": "ES_NIE", "cpf": "BR_CPF", "cpf_bare": "BR_CPF",
    "cnpj": "BR_CNPJ", "cnpj_bare": "BR_CNPJ", "ssn": "US_SSN", "ssn_bare": "US_SSN",
    "ipv4": "IP_ADDRESS", "ipv4_2": "IP_ADDRESS", "ipv6": "IP_ADDRESS", "secret": "SECRET",
    "secret_aws": "SECRET", "secret_gh": "SECRET", "secret_slack": "SECRET", "secret_stripe": "SECRET",
    "pem": "SECRET",
}
ALNUM = string.ascii_letters + string.digits


def fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


class Filler:
    """Fills one template for one language variant; keeps per-message persons consistent."""

    def __init__(self, rng: random.Random, lang: str):
        self.r = rng
        self.lang = lang
        self.persons: dict[int, dict] = {}
        self.distractors: list[str] = []

    # ---------------------------------------------------------------- persons
    def person(self, idx: int, gender: str | None = None) -> dict:
        if idx in self.persons:
            return self.persons[idx]
        r = self.r
        gender = gender or r.choice("mf")
        if r.random() < 0.5:
            g, s = COMMON[self.lang]
            origin = "common"
        else:
            origin, g, s = r.choice(RARE[self.lang])
            origin = "rare:" + origin
        given, surnames = given_pool(g, gender), pool(s)
        first = r.choice(given)
        last = r.choice(surnames)
        full = f"{first} {last}"
        if origin == "common":
            if self.lang == "es" and r.random() < 0.5:
                last2 = r.choice([x for x in surnames if x != last])
                full = f"{first} {last} {last2}"
            elif self.lang.startswith("pt") and r.random() < 0.5:
                other = r.choice([x for x in surnames if x != last])
                mid = "dos " if last in ("Santos", "Reis") else r.choice(["da ", "de ", ""])
                full = f"{first} {other} {mid}{last}"
            elif self.lang == "en" and r.random() < 0.2:
                full = f"{first} {r.choice(string.ascii_uppercase)}. {last}"
        p = {"first": first, "last": last, "full": full, "origin": origin}
        self.persons[idx] = p
        return p

    # ---------------------------------------------------------------- identifiers
    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def card_number(self, kind: str | None = None) -> tuple[str, str]:
        r = self.r
        kind = kind or r.choice(["visa", "visa", "mc", "mc", "amex"])
        if kind == "amex":
            num = luhn_complete(r.choice(["34", "37"]) + self.digits(12))
            groups = [num[:4], num[4:10], num[10:]]
        else:
            if kind == "visa":
                pre = "4"
            else:
                pre = r.choice(["51", "52", "53", "54", "55", str(r.randint(2221, 2720))])
            num = luhn_complete(pre + self.digits(15 - len(pre)))
            groups = [num[i:i + 4] for i in range(0, 16, 4)]
        return num, r.choice([" ", " ", "-", ""]).join(groups)

    def card(self, kind=None) -> str:
        return self.card_number(kind)[1]

    def bad_card(self) -> str:
        num, _ = self.card_number(self.r.choice(["visa", "mc"]))
        bad = num[:-1] + str((int(num[-1]) + self.r.randint(1, 9)) % 10)
        assert not luhn_ok(bad)
        return self.r.choice([" ", ""]).join(bad[i:i + 4] for i in range(0, 16, 4))

    def dni(self, bad=False) -> str:
        n = self.r.randint(1_000_000, 99_999_999)
        letter = dni_letter(n)
        if bad:
            letter = self.r.choice([c for c in DNI_LETTERS if c != letter])
        return f"{n:08d}" + self.r.choice(["", "", "-", " "]) + letter

    def nie(self, bad=False) -> str:
        p = self.r.choice("XYZ")
        n = self.r.randint(0, 9_999_999)
        letter = dni_letter(int(str("XYZ".index(p)) + f"{n:07d}"))
        if bad:
            letter = self.r.choice([c for c in DNI_LETTERS if c != letter])
        sep = self.r.choice(["", "", "-"])
        return f"{p}{sep}{n:07d}{sep}{letter}"

    def cpf_digits(self) -> str:
        while True:
            base = self.digits(9)
            if len(set(base)) > 1:
                return cpf_check(base)

    def cpf(self, formatted=True, bad=False) -> str:
        d = self.cpf_digits()
        if bad:
            d = d[:10] + str((int(d[10]) + self.r.randint(1, 9)) % 10)
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}" if formatted else d

    def cnpj(self, formatted=True, bad=False) -> str:
        d = cnpj_check(self.digits(8) + self.r.choice(["0001", "0001", "0002"]))
        if bad:
            d = d[:13] + str((int(d[13]) + self.r.randint(1, 9)) % 10)
        return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}" if formatted else d

    def ssn(self, sep="-", bad=False) -> str:
        r = self.r
        if bad:
            area = r.choice(["000", "666", f"9{r.randint(0, 99):02d}"])
        else:
            area = f"{r.randint(1, 899):03d}"
            while area == "666":
                area = f"{r.randint(1, 899):03d}"
        s = sep.join([area, f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"])
        assert ssn_ok(s) != bad
        return s

    def iban(self, country: str | None = None, bad=False) -> str:
        r = self.r
        c = country or {"es": "ES", "pt-PT": "PT", "pt-BR": "BR", "en": r.choice(["GB", "DE", "FR"])}[self.lang]
        if c == "ES":
            bank, branch, acc = r.choice(["0049", "2100", "0182", "0081", "2085"]), self.digits(4), self.digits(10)
            bban = bank + branch + es_ccc_dc(bank, branch, acc) + acc
        elif c == "PT":
            body = r.choice(["0035", "0033", "0007", "0010", "0018"]) + self.digits(4) + self.digits(11)
            bban = body + f"{98 - (int(body) * 100) % 97:02d}"
        elif c == "BR":
            bban = self.digits(8) + self.digits(5) + self.digits(10) + r.choice("CP") + "1"
        elif c == "DE":
            bban = self.digits(8) + self.digits(10)
        elif c == "FR":
            b, g, a = self.digits(5), self.digits(5), self.digits(11)
            bban = b + g + a + f"{97 - (89 * int(b) + 15 * int(g) + 3 * int(a)) % 97:02d}"
        elif c == "GB":
            bban = r.choice(["BARC", "LOYD", "HBUK", "NWBK", "MIDL"]) + self.digits(6) + self.digits(8)
        else:
            raise ValueError(c)
        check = iban_check_digits(c, bban)
        if bad:
            check = r.choice([f"{x:02d}" for x in range(2, 99) if f"{x:02d}" != check])
        full = c + check + bban
        assert iban_ok(full) != bad, full
        if r.random() < 0.6:
            return " ".join(full[i:i + 4] for i in range(0, len(full), 4))
        return full

    def phone(self, style: str = "auto") -> str:
        r, lang = self.r, self.lang
        intl = style == "intl" or (style == "auto" and r.random() < 0.3)
        if lang == "es":
            if style == "landline" or r.random() < 0.3:
                n = r.choice(["91", "93", "96", "95", "94", "98"]) + self.digits(7)
                nat = r.choice([f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}", f"{n[:2]} {n[2:5]} {n[5:7]} {n[7:]}"])
            else:
                n = r.choice("67") + self.digits(8)
                nat = r.choice([f"{n[:3]} {n[3:6]} {n[6:]}", n, f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"])
            return ("+34 " + f"{n[:3]} {n[3:6]} {n[6:]}") if intl else nat
        if lang == "pt-PT":
            if style == "landline":
                n = r.choice(["21", "22", "239", "253"]) + ""
                n = (n + self.digits(9))[:9]
            else:
                n = r.choice(["91", "92", "93", "96"]) + self.digits(7)
            nat = r.choice([f"{n[:3]} {n[3:6]} {n[6:]}", n])
            return ("+351 " + f"{n[:3]} {n[3:6]} {n[6:]}") if intl else nat
        if lang == "pt-BR":
            ddd = r.choice(["11", "21", "31", "41", "51", "61", "71", "81", "19", "48"])
            if style == "landline":
                sub = r.choice("2345") + self.digits(3) + "-" + self.digits(4)
            else:
                sub = "9" + self.digits(4) + "-" + self.digits(4)
            if intl:
                return r.choice([f"+55 ({ddd}) {sub}", f"+55 {ddd} {sub}", f"+55{ddd}{sub.replace('-', '')}"])
            return r.choice([f"({ddd}) {sub}", f"({ddd}) {sub}", f"{ddd} {sub}"])
        # en / US
        area = r.choice(["415", "212", "305", "617", "512", "312", "206", "646", "702", "919", "303", "404"])
        exch = str(r.randint(2, 9)) + self.digits(2)
        while exch[1:] == "11" or exch == "555":
            exch = str(r.randint(2, 9)) + self.digits(2)
        line = self.digits(4)
        if intl:
            return r.choice([f"+1 {area} {exch} {line}", f"+1 ({area}) {exch}-{line}", f"+1-{area}-{exch}-{line}"])
        return r.choice([f"({area}) {exch}-{line}", f"{area}-{exch}-{line}", f"{area}.{exch}.{line}"])

    def email(self) -> str:
        r = self.r
        if self.persons and r.random() < 0.7:
            p = self.persons[min(self.persons)]
            f, l = fold(p["first"]).lower(), fold(p["last"]).lower().replace(" ", "")
            local = r.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}{l}{r.randint(1, 99)}", f"{f}_{l}", f"{l}.{f[0]}"])
        else:
            local = r.choice(["contacto", "soporte.cliente", "info", "facturacion", "compras", "admin",
                              "user" + self.digits(4), "loja.online", "jdoe", "ventas2024"])
        return f"{local}@{r.choice(EMAIL_DOMAINS[self.lang])}"

    def ipv4(self) -> str:
        r = self.r
        return f"{r.choice([83, 88, 95, 177, 179, 186, 189, 191, 200, 201, 212, 213, 34, 52, 66, 73, 104, 24])}." \
               f"{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def ipv6(self) -> str:
        r = self.r
        prefix = r.choice([0x2001, 0x2804, 0x2a01, 0x2a02, 0x2600, 0x2606])
        groups = [prefix] + [r.randint(0, 0xFFFF) for _ in range(7)]
        if r.random() < 0.6:
            for i in range(3, 6):
                groups[i] = 0
        addr = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
        return addr.compressed if r.random() < 0.7 else addr.exploded

    def secret(self, kind: str | None = None) -> str:
        r = self.r
        kind = kind or r.choice(["openai", "openai_proj", "google", "stripe"])
        rnd = lambda n, alpha=ALNUM: "".join(r.choice(alpha) for _ in range(n))  # noqa: E731
        if kind == "openai":
            return "sk-" + rnd(48)
        if kind == "openai_proj":
            return "sk-proj-" + rnd(64, ALNUM + "_-")
        if kind == "google":
            return "AIza" + rnd(35, ALNUM + "_-")
        if kind == "stripe":
            return "sk_live_" + rnd(24)
        if kind == "aws":
            return "AKIA" + rnd(16, string.ascii_uppercase + "234567")
        if kind == "gh":
            return "ghp_" + rnd(36)
        if kind == "slack":
            return f"xoxb-{self.digits(r.choice([11, 12]))}-{self.digits(13)}-{rnd(24)}"
        if kind == "pem":
            body = base64.b64encode(bytes(r.getrandbits(8) for _ in range(r.choice([180, 228, 276])))).decode()
            lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
            label = r.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
            return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"
        raise ValueError(kind)

    # ---------------------------------------------------------------- distractors
    def non_checksum_number(self, n: int) -> str:
        """n digits that are neither a Luhn-valid card, a valid CPF nor a valid CNPJ."""
        while True:
            d = str(self.r.randint(1, 9)) + self.digits(n - 1)
            if n >= 13 and luhn_ok(d):
                continue
            if n == 11 and cpf_check(d[:9]) == d:
                continue
            if n == 14 and cnpj_check(d[:12]) == d:
                continue
            return d

    def distractor(self, key: str) -> str:
        r, lang = self.r, self.lang
        if key == "order":
            return r.choice([f"#A-{r.randint(10000, 99999)}", "40" + self.non_checksum_number(8),
                             f"PED-2024-{self.digits(6)}", f"#{r.randint(100000, 999999)}", f"ES-{self.digits(7)}"])
        if key == "tracking":
            ups = "1Z" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(6)) + self.digits(10)
            post = "".join(r.choice(string.ascii_uppercase) for _ in range(2)) + self.digits(9)
            return r.choice([ups, post + "BR", post + "PT", post + "ES", post + "US"])
        if key in ("amount", "amount2"):
            v = r.choice([r.randint(5, 99) + r.randint(0, 99) / 100, r.randint(100, 9999) + r.randint(0, 99) / 100])
            us = f"{v:,.2f}"
            eu = us.replace(",", "X").replace(".", ",").replace("X", ".")
            if lang == "pt-BR":
                return f"R$ {eu}"
            if lang == "en":
                return r.choice([f"${us}", f"USD {us}", f"${us}"])
            return r.choice([f"{eu} €", f"{eu}€", f"€ {eu}", f"{eu} EUR"])
        if key in ("date", "date2", "date_iso"):
            y, m, d = r.choice([2023, 2024, 2025]), r.randint(1, 12), r.randint(1, 28)
            if key == "date_iso":
                return f"{y}-{m:02d}-{d:02d}"
            if lang == "en":
                return r.choice([f"{m:02d}/{d:02d}/{y}", f"{MONTHS['en'][m - 1]} {d}, {y}", f"{y}-{m:02d}-{d:02d}"])
            prep = "de"
            return r.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {prep} {MONTHS[lang][m - 1]}",
                             f"{d:02d}.{m:02d}.{y}"])
        if key in ("time", "time2"):
            h, mi = r.randint(7, 22), r.choice([0, 15, 30, 45, r.randint(0, 59)])
            if lang == "en":
                return r.choice([f"{(h - 1) % 12 + 1}:{mi:02d} {'AM' if h < 12 else 'PM'}", f"{h}:{mi:02d}"])
            return r.choice([f"{h}:{mi:02d}", f"{h:02d}:{mi:02d}h", f"{h}h{mi:02d}"])
        if key == "version":
            return r.choice([f"v{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 9)}", f"10.0.{r.randint(19041, 22631)}",
                             f"iOS {r.randint(15, 17)}.{r.randint(0, 6)}.{r.randint(1, 3)}", f"Android {r.randint(11, 14)}",
                             f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 30)}-beta"])
        if key == "sku":
            return r.choice([f"SKU-{self.digits(5)}-{r.choice(['BL', 'RD', 'XL', 'M'])}", f"REF {self.digits(4)}-{self.digits(3)}-{self.digits(2)}"])
        if key == "invoice":
            return r.choice([f"FAC-2024-{self.digits(6)}", f"INV-{self.digits(8)}", f"2024/{self.digits(5)}",
                             f"FT {r.randint(2023, 2025)}A{r.randint(1, 9)}/{self.digits(5)}", f"NF {self.digits(6)}"])
        if key == "ticket":
            return r.choice([f"#{r.randint(10000, 99999)}", f"INC{self.digits(7)}", f"CS-{self.digits(6)}"])
        if key == "last4":
            return self.digits(4)
        if key == "expiry":
            return f"{r.randint(1, 12):02d}/{r.randint(25, 30)}"
        if key == "num":
            return str(r.randint(10, 3000))
        if key == "bad_card":
            return self.bad_card()
        if key == "bad_cpf":
            return self.cpf(formatted=r.random() < 0.7, bad=True)
        if key == "bad_cnpj":
            return self.cnpj(formatted=r.random() < 0.7, bad=True)
        if key == "bad_dni":
            return self.dni(bad=True)
        if key == "bad_nie":
            return self.nie(bad=True)
        if key == "bad_iban":
            return self.iban(bad=True)
        if key == "bad_ssn":
            return self.ssn(bad=True)
        if key in ("product", "product2"):
            return r.choice(PRODUCTS)
        if key == "city":
            return r.choice(CITIES[lang])
        if key == "company":
            return r.choice(COMPANIES[lang])
        if key == "company_generic":
            return r.choice(COMPANY_GENERIC)
        if key == "street":
            return r.choice(STREETS[lang])
        if key == "weekday":
            return r.choice(WEEKDAYS[lang][:5] if lang.startswith("pt") else WEEKDAYS[lang])
        if key == "weekday_cap":
            w = r.choice(WEEKDAYS[lang])
            return w[0].upper() + w[1:]
        if key == "month":
            return r.choice(MONTHS[lang])
        raise KeyError(key)

    def pii(self, key: str, gender: str | None = None) -> str:
        r = self.r
        if key in ("name", "name2", "first", "first2", "surname", "name_lc"):
            p = self.person(2 if key in ("name2", "first2") else 1, gender)
            if key.startswith("first"):
                return p["first"]
            if key == "surname":
                return p["last"]
            if key == "name_lc":
                return fold(p["full"]).lower()
            return p["full"]
        if key == "email":
            return self.email()
        if key in ("phone", "phone2"):
            return self.phone()
        if key == "phone_intl":
            return self.phone("intl")
        if key == "phone_landline":
            return self.phone("landline")
        if key == "card":
            return self.card()
        if key == "card_amex":
            return self.card("amex")
        if key == "iban":
            return self.iban()
        if key == "iban_x":
            own = {"es": "ES", "pt-PT": "PT", "pt-BR": "BR", "en": "US"}[self.lang]
            return self.iban(r.choice([c for c in ["ES", "PT", "BR", "DE", "FR", "GB"] if c != own]))
        if key == "dni":
            return self.dni()
        if key == "nie":
            return self.nie()
        if key in ("cpf", "cpf_bare"):
            return self.cpf(formatted=key == "cpf")
        if key in ("cnpj", "cnpj_bare"):
            return self.cnpj(formatted=key == "cnpj")
        if key == "ssn":
            return self.ssn(r.choice(["-", "-", "-", " "]))
        if key == "ssn_bare":
            return self.ssn("")
        if key in ("ipv4", "ipv4_2"):
            return self.ipv4()
        if key == "ipv6":
            return self.ipv6()
        if key == "secret":
            return self.secret()
        if key.startswith("secret_"):
            return self.secret(key[7:])
        if key == "pem":
            return self.secret("pem")
        raise KeyError(key)

    def fill(self, template: str) -> tuple[str, list[dict]]:
        text, spans, pos = "", [], 0
        for m in re.finditer(r"\{(\w+)(?:\.([mf]))?\}", template):
            text += template[pos:m.start()]
            key = m.group(1)
            if key in PII_KEYS:
                val = self.pii(key, m.group(2))
                spans.append({"entity_type": PII_KEYS[key], "start_position": len(text),
                              "end_position": len(text) + len(val), "entity_value": val})
            else:
                val = self.distractor(key)
                self.distractors.append(key)
            text += val
            pos = m.end()
        text += template[pos:]
        return text, spans


def parse(block: str) -> list[str]:
    return [ln.replace("\\n", "\n") for ln in block.strip("\n").splitlines() if ln.strip()]


def check_rare_against_gazetteer() -> None:
    g, s = GAZ / "given.txt", GAZ / "surnames.txt"
    if not (g.exists() and s.exists()):
        return
    names = set(g.read_text(encoding="utf-8").split("\n")) | set(s.read_text(encoding="utf-8").split("\n"))
    hits = sorted({n for groups in RARE.values() for _, gv, sv in groups
                   for n in given_pool(gv, None) + pool(sv) if n in names})
    if hits:
        print(f"warning: 'rare' names found in the gazetteer: {', '.join(hits)}", file=sys.stderr)
    common_missing = sorted({n for gv, sv in COMMON.values() for n in given_pool(gv, None) + pool(sv) if n not in names})
    if common_missing:
        print(f"note: common-pool names missing from the gazetteer: {', '.join(common_missing)}", file=sys.stderr)


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    es, pt, en = parse(TEMPLATES_ES), parse(TEMPLATES_PT), parse(TEMPLATES_EN)
    plan = []  # (template_id, template, lang)
    def weighted(tlist: list[str], ids: list[int]) -> list[int]:
        # templates with at least one PII span count twice, PII-free ones once
        return [i for i in ids for _ in range(2 if any(k in PII_KEYS for k in re.findall(r"\{(\w+)", tlist[i])) else 1)]

    for tlist, prefix, langs in ((es, "es", ["es"]), (en, "en", ["en"])):
        for lang in langs:
            ids = weighted(tlist, list(range(len(tlist))))
            seq = []
            while len(seq) < COUNTS[lang]:
                rng.shuffle(ids)
                seq += ids
            plan += [(f"{prefix}-{i:03d}", tlist[i], lang) for i in seq[:COUNTS[lang]]]
    for lang, tag in (("pt-BR", "BR"), ("pt-PT", "PT")):
        ids = weighted(pt, [i for i, t in enumerate(pt) if t.startswith(tag + "|") or t.startswith("*|")])
        seq = []
        while len(seq) < COUNTS[lang]:
            rng.shuffle(ids)
            seq += ids
        plan += [(f"pt-{i:03d}", pt[i].split("|", 1)[1], lang) for i in seq[:COUNTS[lang]]]
    out = []
    for tid, tmpl, lang in plan:
        f = Filler(rng, lang)
        text, spans = f.fill(tmpl)
        for sp in spans:
            assert text[sp["start_position"]:sp["end_position"]] == sp["entity_value"]
        out.append({
            "full_text": text,
            "spans": sorted(spans, key=lambda s: s["start_position"]),
            "lang": lang,
            "template_id": tid,
            "metadata": {
                "distractors": f.distractors,
                "persons": [{"value": p["full"], "origin": p["origin"]} for _, p in sorted(f.persons.items())],
            },
        })
    rng.shuffle(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    check_rare_against_gazetteer()
    data = generate(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    types = Counter(s["entity_type"] for d in data for s in d["spans"])
    langs = Counter(d["lang"] for d in data)
    with_distr = sum(1 for d in data if d["metadata"]["distractors"])
    no_pii = sum(1 for d in data if not d["spans"])
    n_tmpl = Counter(d["template_id"].split("-")[0] for d in {d["template_id"]: d for d in data}.values())
    print(f"seed {args.seed}: {len(data)} messages {dict(langs)} -> {args.out}")
    print(f"templates used: {dict(n_tmpl)}; with distractors: {with_distr} ({with_distr / len(data):.0%}); "
          f"without PII: {no_pii}")
    print("spans: " + ", ".join(f"{k}={v}" for k, v in sorted(types.items())))


if __name__ == "__main__":
    main()
