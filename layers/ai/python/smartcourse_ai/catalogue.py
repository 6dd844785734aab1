"""The AI service's functions. Its own REST API serves its routes behind the platform's authorizer."""

from __future__ import annotations

from smartcourse.catalogue import Service, ServiceCatalogue, docs_function, health_function

CATALOGUE = ServiceCatalogue(Service.AI, (health_function(Service.AI), docs_function(Service.AI)))
function = CATALOGUE.function
