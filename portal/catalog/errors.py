"""Catalog errors, each with a stable snake_case code."""

from portal.core.errors import Conflict, ValidationFailed


class ProductCodeTaken(ValidationFailed):
    code = "product_code_taken"
    message = "That product code is already used in this brand."


class SkuTaken(ValidationFailed):
    code = "sku_taken"
    message = "A SKU with that code already exists in this brand."


class ImageRejected(ValidationFailed):
    code = "image_rejected"
    message = "The image was refused."


class ImportFileRejected(ValidationFailed):
    code = "import_file_rejected"
    message = "The file was refused."


class ImportNotReady(Conflict):
    code = "import_not_ready"
    message = "Only a validated import without errors can be applied."
