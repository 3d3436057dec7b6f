"""Customers who keep coming, for as long as ``ssmas demo`` runs.

After the scripted customers, the demo draws new ones: Spanish and English speakers from the
countries the network serves, asking what a publisher network's support hears every day
(payouts, invoices, ads.txt, tags, RPM drops, access, reports, policy), now and then with an
attachment, now and then angry enough to need a person, and closing with thanks. Each customer
sends one to three messages through the signed webhook; nothing waits for the replies, so the
pace holds whatever the workers do, and the pages fill as they would with real traffic.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import httpx
import structlog

from ssmas.assistant.demo_customers import Step, post_step
from ssmas.assistant.whatsapp.config import DEV_APP_SECRET

log = structlog.get_logger("ssmas.assistant.demo")

# (country prefix, language, names)
PEOPLE = (
    ("52155", "es", ("Lucía Hernández", "Jorge Ramírez", "Valeria Torres", "Diego Morales")),
    ("346", "es", ("Carmen Gil", "Pablo Serrano", "Marta Vidal")),
    ("5411", "es", ("Sofía Romero", "Martín Acosta")),
    ("1415", "en", ("Emily Carter", "Jason Brooks", "Olivia Reed")),
    ("4477", "en", ("Harry Wilson", "Amelia Clarke")),
)

QUESTIONS = {
    "es": (
        "¿Cuál es el pago mínimo para cobrar?",
        "¿Cuándo me pagan el mes pasado?",
        "No me ha llegado el pago de este mes",
        "¿Dónde descargo mi factura?",
        "Necesito la factura con otros datos fiscales",
        "¿Cómo configuro el archivo ads.txt?",
        "Mi ads.txt dice que faltan líneas",
        "¿Qué pongo en sellers.json?",
        "¿Dónde pego la etiqueta del anuncio en mi web?",
        "El RPM ha bajado mucho esta semana, ¿por qué?",
        "La tasa de relleno está muy baja desde ayer",
        "No puedo entrar en mi cuenta",
        "¿Cómo añado a otro usuario a mi cuenta?",
        "¿Dónde veo el informe de ingresos por país?",
        "Me han avisado de tráfico inválido, ¿qué hago?",
        "¿Mi sitio cumple la política de contenido?",
    ),
    "en": (
        "What is the minimum payout?",
        "When do I get paid for last month?",
        "My payment for this month has not arrived",
        "Where can I download my invoice?",
        "I need the invoice with a different billing address",
        "How do I set up ads.txt?",
        "My ads.txt is missing some lines",
        "What goes in sellers.json?",
        "Where do I put the ad tag on my site?",
        "My RPM dropped a lot this week, why?",
        "Fill rate has been very low since yesterday",
        "I can't log into my account",
        "How do I add another user to my account?",
        "Where is the revenue report by country?",
        "I got an invalid traffic warning, what should I do?",
        "Does my site meet the content policy?",
    ),
}
ANGRY = {
    "es": (
        "¡Es la tercera vez que no me pagan! Quiero hablar con una persona ya",
        "Estoy harto, mis ingresos han caído a la mitad y nadie me responde",
    ),
    "en": (
        "This is the third time my payment is late, I want to talk to a manager now",
        "Unacceptable. Revenue halved and nobody answers, I'm cancelling",
    ),
}
THANKS = {"es": ("Muchas gracias, todo perfecto", "Gracias, ya está"), "en": ("Thanks a lot!",)}
GREETINGS = {"es": ("Hola", "Buenas tardes"), "en": ("Hi", "Hello there")}
ATTACHMENTS = {"es": ("Adjunto la factura", "Foto del ticket"), "en": ("Here is my invoice",)}


@dataclass
class StreamStats:
    customers: int = 0
    messages: int = 0
    failures: int = 0


def conversation(rng: random.Random) -> list[Step]:
    """One customer's messages: maybe a greeting, a question (or a complaint), maybe an
    attachment, maybe thanks."""
    prefix, language, names = rng.choice(PEOPLE)
    phone = prefix + "".join(rng.choice("0123456789") for _ in range(12 - len(prefix)))
    name = rng.choice(names)
    steps: list[Step] = []
    if rng.random() < 0.35:
        steps.append(Step(phone, name, rng.choice(GREETINGS[language])))
    if rng.random() < 0.08:
        steps.append(Step(phone, name, rng.choice(ANGRY[language])))
        return steps
    steps.append(Step(phone, name, rng.choice(QUESTIONS[language])))
    if rng.random() < 0.12:
        media = "invoice" if language == "en" or rng.random() < 0.5 else "receipt"
        steps.append(Step(phone, name, rng.choice(ATTACHMENTS[language]), media=media))
    if rng.random() < 0.4:
        steps.append(Step(phone, name, rng.choice(THANKS[language])))
    return steps


def keep_customers_coming(
    api_url: str,
    fake_url: str,
    stop: threading.Event,
    *,
    pace_s: float = 5.0,
    seed: int | None = None,
    app_secret: str = DEV_APP_SECRET,
    report_every_s: float = 60.0,
) -> StreamStats:
    """A new customer about every ``pace_s`` seconds (their messages a second or two apart)
    until ``stop``; returns what was sent."""
    rng = random.Random(seed)
    stats = StreamStats()
    reported = 0.0
    elapsed = 0.0
    with httpx.Client(timeout=10.0) as client:
        while not stop.is_set():
            stats.customers += 1
            for step in conversation(rng):
                try:
                    post_step(client, api_url, fake_url, step, app_secret=app_secret)
                    stats.messages += 1
                except httpx.HTTPError as exc:  # the API restarting: try the next customer
                    stats.failures += 1
                    log.warning("demo_customer_failed", error=type(exc).__name__)
                    break
                gap = rng.uniform(0.8, 2.0)
                elapsed += gap
                if stop.wait(gap):
                    return stats
            wait = rng.uniform(0.5, 1.5) * pace_s
            elapsed += wait
            if elapsed - reported >= report_every_s:
                reported = elapsed
                log.info(
                    "assistant_demo_traffic",
                    customers=stats.customers,
                    messages=stats.messages,
                    failures=stats.failures,
                )
            if stop.wait(wait):
                return stats
    return stats
