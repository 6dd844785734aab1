"""The Analytics service's functions. Its own REST API serves its routes behind the platform's authorizer."""

from __future__ import annotations

from smartcourse.catalogue import Service, ServiceCatalogue, docs_function, health_function

CATALOGUE = ServiceCatalogue(Service.ANALYTICS, (health_function(Service.ANALYTICS), docs_function(Service.ANALYTICS)))
function = CATALOGUE.function
