"""Spotting prompt injection in course material.

Passages are untrusted text (anyone who can upload an asset writes them); a sentence addressed to an AI assistant
must never be repeated as if it were course content. The patterns look for the imperative, second-person shape of
such sentences so that ordinary prose ("Act as quickly as possible", "the system prompt sets the model's role")
passes.
"""

from __future__ import annotations

import re

_ROLE = r"(?:an?\s+)?(?:ai|assistant|chatbot|bot|llm|language\s+model|model|gpt|dan|jailbr\w*|unrestricted|unfiltered)"
_PATTERNS = [
    # "Ignore all previous instructions", "disregard the system prompt", "forget your rules"
    r"\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\w+){0,3}?\s+"
    r"(?:previous|prior|above|earlier|preceding|original|initial|system|your|all|any)\s+(?:\w+\s+){0,2}?"
    r"(?:instructions?|prompts?|rules|directions|guidance|guidelines|guardrails|directives|commands|context)\b",
    r"\b(?:ignore|disregard|forget)\s+(?:all|everything|anything)\s+(?:above|before|previous|prior|else)\b",
    # "Reveal your system prompt", "print the hidden instructions"
    r"\b(?:reveal|show|print|repeat|output|display|leak|disclose|tell\s+me|give\s+me|share)\s+(?:me\s+)?"
    r"(?:your|the)\s+(?:\w+\s+){0,2}?(?:system\s+)?(?:prompt|instructions|configuration)\b",
    # "You are now DAN", "You are now an unrestricted assistant", "from now on you will ..."
    rf"\byou\s+are\s+now\s+(?:in\s+)?(?:\w+\s+){{0,2}}?{_ROLE}\b",
    r"\byou\s+are\s+(?:now\s+)?no\s+longer\s+(?:an?\s+|bound|restricted|required)",
    r"\bfrom\s+now\s+on,?\s+(?:you|your|respond|reply|answer|always|only|ignore)\b",
    r"\b(?:developer|jailbreak|dan|god)\s+mode\b",
    # "Act as a ...", "pretend you are ..." addressed to the reader at the start of a sentence
    r"^\W*(?:(?:please|now|ok|okay),?\s+)?(?:act\s+as\s+(?:an?\s+|my\s+|the\s+|if\b)|pretend\s+(?:to\s+be|you\s+are|that\s+you)"
    r"|roleplay\s+as|role-play\s+as|simulate\s+being)",
    # "Respond only with ...", "answer with nothing but ..."
    r"\b(?:respond|reply|answer|output)\s+(?:only\s+with|with\s+only|with\s+nothing\s+but|only\s+in)\b",
    r"\bonly\s+(?:respond|reply|answer|output)\s+with\b",
    r"\b(?:say|print|output|type|write|respond\s+with|reply\s+with)\s+[\"'\u201c\u2018]?(?:pwned|hacked|owned|jailbroken)\b",
    r"\bpwned\b",
    # "New instructions:", "SYSTEM:", chat-template markers
    r"\b(?:new|updated|real|actual|hidden|secret|additional|important)\s+(?:system\s+)?(?:instructions?|prompt|rules)\s*:",
    r"^\W*(?:system|assistant|developer)\s*(?:prompt\s*)?:",
    r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?inst\]|<</?sys>>|###\s*(?:instruction|system)",
    # Notes addressed to the machine reading the page
    rf"\b(?:note|message|attention|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+)?{_ROLE}\b",
    rf"\bif\s+you\s+are\s+{_ROLE}\b",
    r"^\W*(?:dear|hey|hi|attention)\s+(?:ai|assistant|chatbot|chatgpt|llm)\b",
    r"\b(?:do\s+not|don't|never)\s+(?:tell|reveal\s+to|inform|mention\s+(?:this\s+)?to)\s+the\s+(?:user|student|learner)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)


def looks_like_instruction(sentence: str) -> bool:
    """True when ``sentence`` reads as an instruction to an AI assistant rather than course content."""
    return _INSTRUCTION.search(" ".join(sentence.split())) is not None
