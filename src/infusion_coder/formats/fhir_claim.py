"""The claim as a FHIR Claim resource (R4B, validated by fhir.resources), one per encounter.

Same lines as the 837 (both serialise `claims.Claim`): item.revenue (institutional), productOrService in
the CPT or HCPCS Level II system, modifier[], quantity, servicedDate, unitPrice/net, and for a drug line
with an NDC a detail whose productOrService is the NDC (the CMS BFD convention; ecosystem.md 2.3).
Revenue codes go out as numbers only (NUBC descriptions are AHA property).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..claims import Claim

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NDC = "http://hl7.org/fhir/sid/ndc"
NUBC_REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI = "http://hl7.org/fhir/sid/us-npi"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
CMS_POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
# CPT modifiers are two digits (25, 59); HCPCS Level II modifiers are letters (XS, JZ, JW)
_CPT_MODIFIER = re.compile(r"^\d{2}$")
_UCUM = {
    "ME": ("mg", "mg"),
    "GR": ("g", "g"),
    "ML": ("mL", "mL"),
    "UN": ("unit", "{unit}"),
    "F2": ("IU", "[iU]"),
}


def code_system(code: str) -> str:
    """CPT for five digits or four digits and F/T/U; HCPCS Level II for a letter and four digits."""
    return CPT if re.fullmatch(r"\d{4}[0-9FTU]", code) else HCPCS


def _money(value: Decimal) -> dict[str, Any]:
    return {"value": float(value), "currency": "USD"}


def claim_resource(claim: Claim) -> dict[str, Any]:
    """The Claim as a JSON-ready dict, validated by fhir.resources R4B (raises on an invalid resource)."""
    from fhir.resources.R4B.claim import Claim as FhirClaim

    head = claim.header
    institutional = claim.claim_type == "institutional"
    first, last = claim.statement
    items = []
    for number, line in enumerate(claim.lines, 1):
        unit_price = (line.charge / line.units) if line.units else line.charge
        item: dict[str, Any] = {
            "sequence": number,
            "diagnosisSequence": [1],
            "productOrService": {"coding": [{"system": code_system(line.code), "code": line.code}]},
            "quantity": {"value": line.units},
            "unitPrice": _money(unit_price),
            "net": _money(line.charge),
            "servicedDate": line.date.isoformat(),
        }
        if line.modifiers:
            item["modifier"] = [
                {"coding": [{"system": CPT if _CPT_MODIFIER.match(m) else HCPCS, "code": m}]}
                for m in line.modifiers
            ]
        if institutional and line.revenue_code:
            item["revenue"] = {"coding": [{"system": NUBC_REVENUE, "code": line.revenue_code}]}
        if not institutional:
            item["locationCodeableConcept"] = {
                "coding": [{"system": CMS_POS, "code": claim.place_of_service}]
            }
        if line.ndc:
            detail: dict[str, Any] = {
                "sequence": 1,
                "productOrService": {"coding": [{"system": NDC, "code": line.ndc}]},
            }
            if line.ndc_quantity is not None:
                unit, ucum = _UCUM.get(line.ndc_quantity.unit, ("unit", "{unit}"))
                detail["quantity"] = {
                    "value": float(line.ndc_quantity.amount),
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": ucum,
                }
            item["detail"] = [detail]
        items.append(item)
    subscriber = head.subscriber
    patient = head.patient or subscriber
    body: dict[str, Any] = {
        "resourceType": "Claim",
        "id": re.sub(r"[^A-Za-z0-9\-.]", "-", claim.encounter_id)[:64],
        "identifier": [{"system": "urn:infusion-coder:encounter-id", "value": claim.encounter_id}],
        "status": "active",
        "type": {
            "coding": [{"system": CLAIM_TYPE, "code": "institutional" if institutional else "professional"}]
        },
        "use": "claim",
        "patient": {
            "identifier": {"value": subscriber.member_id} if head.patient is None else None,
            "display": f"{patient.last_name}, {patient.first_name}",
        },
        "billablePeriod": {"start": first.isoformat(), "end": last.isoformat()},
        "created": (head.interchange.created.date() if head.interchange.created else last).isoformat(),
        "provider": {
            "identifier": {"system": NPI, "value": head.billing_provider.npi},
            "display": head.billing_provider.name,
        },
        "priority": {"coding": [{"system": PROCESS_PRIORITY, "code": "normal"}]},
        "diagnosis": [
            {
                "sequence": number,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": _icd(code)}]},
            }
            for number, code in enumerate(head.claim.diagnosis, 1)
        ],
        "insurance": [
            {
                "sequence": 1,
                "focal": True,
                "identifier": {"value": subscriber.member_id},
                "coverage": {"display": f"{head.payer.name} ({head.payer.id})"},
            }
        ],
        "item": items,
        "total": _money(claim.total),
    }
    if body["patient"]["identifier"] is None:
        del body["patient"]["identifier"]
    resource = FhirClaim.model_validate(body)
    dumped: dict[str, Any] = resource.model_dump(mode="json", exclude_none=True)
    return dumped


def _icd(code: str) -> str:
    # ICD-10-CM is written with its dot in FHIR (R11.2); the 837 drops it
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code
