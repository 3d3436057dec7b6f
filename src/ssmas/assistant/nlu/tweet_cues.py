"""Spanish polarity cues added to a normalised tweet before the sentiment features see it.

``mark_cues`` keeps the tweet and appends cue tokens a linear model can weigh on their own:

- negation scope: after ``no nunca ni tampoco jamas nadie nada sin`` the next three words are
  repeated with a ``neg_`` prefix (``no me gusta`` → also ``neg_me neg_gusta``), until
  punctuation ends the clause;
- a small hand-written Spanish polarity lexicon (airline customer-service words): every hit adds
  ``xlexpos`` or ``xlexneg``, flipped inside a negation scope;
- emoji and emoticons by polarity: ``xemopos`` / ``xemoneg``.

Input is the output of ``normalise_tweet`` (lower case, accents stripped), so the lexicon is
written without accents.
"""

from __future__ import annotations

import re

NEGATORS = frozenset(["no", "nunca", "ni", "tampoco", "jamas", "nadie", "nada", "sin", "ningun"])
NEGATION_SCOPE = 3
_CLAUSE_END = frozenset([".", ",", ";", ":", "!", "?"])
_TOKEN = re.compile(r"\w+|[.,;:!?]|[^\w\s]", re.UNICODE)


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


POSITIVE_WORDS = _words(
    """
    gracias graciass agradecer agradezco agradecido agradecida agradecimiento genial geniales
    excelente excelentes perfecto perfecta perfectos estupendo estupenda fantastico fantastica
    maravilloso maravillosa increible encanta encantan encanto encantado encantada encantados
    feliz felices felicidad felicidades felicitar enhorabuena bien buen bueno buena buenos buenas
    mejor mejores amable amables simpatico simpatica atento atenta atentos profesional
    profesionales rapido rapida rapidez eficaz eficiente puntual puntuales comodo comoda
    recomiendo recomendable gusta gusto guapo guapa bonito bonita precioso preciosa ideal
    disfrutar disfrutando disfrute lujo top crack cracks vuelta volvere encantador facil
    solucionado resuelto ayudado gran grandes viva bravo ole aplausos orgullo orgulloso ilusion
    amor amo quiero besos abrazo suerte bienvenido bienvenidos premio mola molan chulo
    """
)
NEGATIVE_WORDS = _words(
    """
    retraso retrasos retrasado retrasada retrasan retrasar demora demoras demorado cancelado
    cancelada cancelan cancelaron cancelacion cancelaciones perdido perdida perdidas perdieron
    extraviada extraviado rota roto rotas danada danado verguenza vergonzoso vergonzosa pesimo
    pesima pesimos horrible horribles terrible terribles fatal malo mala malos malas peor peores
    queja quejas reclamacion reclamaciones reclamar reclamo indignante indignado indignada
    indignacion lamentable lamentables inaceptable asco asqueroso desastre desastroso robo robar
    robado ladrones timo estafa estafadores huelga caos mierda harto harta hartos cansado
    cansada esperando espera esperar horas problema problemas incompetentes incompetencia
    denunciar denuncia denuncie abuso abusivo abusivos culpa nefasto nefasta penoso penosa
    ridiculo ridicula impresentable impresentables vergonzante odio odiar triste tristeza
    decepcion decepcionado decepcionada decepcionante accidente muertos muerte tragedia
    overbooking cobrar cobran cobrado cobro basura cutre sucio sucia falta fallo fallos error
    errores ignoran ignorado respuesta contestan tirados tirado atrapados enfadado enfadada
    mal grave peligro miedo susto
    """
)
POSITIVE_EMOJI = frozenset(
    "😀😁😂😃😄😅😆😉😊😋😍😎😘😙😚☺🙂🤗🤩🥰😻👍👏🙌💪🎉🎊✨💙💚💛💜🧡❤♥💕💖💗💓💞😇✌👌🔝🥳🙏✅🌞☀🌴"
)
NEGATIVE_EMOJI = frozenset(
    "😒😓😔😕😖😞😟😠😡😢😣😤😥😦😧😨😩😪😫😬😭😰😱😳😵🙁☹🤬🤮🤢👎💩💔😑😐🙄😶🤦❌⚠😷"
)
POSITIVE_EMOTICONS = (":)", ":-)", ":d", ";)", ";-)", "=)", "xd", "<3", ":p")
NEGATIVE_EMOTICONS = (":(", ":-(", ":'(", ":/", ">:(", "d:")


def mark_cues(normalised: str) -> str:
    """The normalised tweet followed by its negation, lexicon and emoji cue tokens."""
    cues: list[str] = []
    for emoticon in POSITIVE_EMOTICONS:
        cues.extend(["xemopos"] * normalised.count(emoticon))
    for emoticon in NEGATIVE_EMOTICONS:
        cues.extend(["xemoneg"] * normalised.count(emoticon))
    scope = 0
    for token in _TOKEN.findall(normalised):
        if token in _CLAUSE_END:
            scope = 0
            continue
        if token in POSITIVE_EMOJI:
            cues.append("xemopos")
            continue
        if token in NEGATIVE_EMOJI:
            cues.append("xemoneg")
            continue
        if token in NEGATORS:
            cues.append("xneg")
            scope = NEGATION_SCOPE
            continue
        negated = scope > 0
        if negated:
            cues.append(f"neg_{token}")
            scope -= 1
        if token in POSITIVE_WORDS:
            cues.append("xlexneg" if negated else "xlexpos")
        elif token in NEGATIVE_WORDS:
            cues.append("xlexpos_neg" if negated else "xlexneg")
    return f"{normalised} {' '.join(cues)}" if cues else normalised
