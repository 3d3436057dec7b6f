"""The WhatsApp customer-service assistant: channel, NLU, replies, escalation and analytics.

Public service functions other packages may call: ``ssmas.assistant.nlu.load_nlu``,
``ssmas.assistant.escalation.score_escalation`` and ``ssmas.assistant.respond.compose_reply``.
"""
