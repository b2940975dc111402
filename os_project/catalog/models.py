from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Service(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2)
    estimated_minutes = models.PositiveIntegerField(_("estimated minutes"), default=60)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ("name", "id")
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="service_price_not_negative")]

    def __str__(self) -> str:
        return self.name


class Part(models.Model):
    sku = models.CharField(_("sku"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    quantity_in_stock = models.PositiveIntegerField(_("quantity in stock"), default=0)
    quantity_reserved = models.PositiveIntegerField(_("quantity reserved"), default=0)
    minimum_stock = models.PositiveIntegerField(_("minimum stock"), default=0)
    active = models.BooleanField(_("active"), default=True)
    may_decline_alone = models.BooleanField(
        _("may decline alone"), default=False,
        help_text=_("The customer may decline this part alone and keep the job it belongs to "
                    "(a wiper blade, yes; the oil filter of an oil change, no)."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("part")
        verbose_name_plural = _("parts")
        ordering = ("name", "id")
        constraints = [
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="part_price_not_negative"),
            # The last line of defence against selling the same unit twice.
            models.CheckConstraint(condition=Q(quantity_reserved__lte=F("quantity_in_stock")),
                                   name="part_reserved_within_stock"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def quantity_available(self) -> int:
        return self.quantity_in_stock - self.quantity_reserved


class StockEntry(models.Model):
    part = models.ForeignKey(Part, on_delete=models.PROTECT, related_name="stock_entries", verbose_name=_("part"))
    quantity = models.PositiveIntegerField(_("quantity"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("stock entry")
        ordering = ("-created_at", "-id")
        verbose_name_plural = _("stock entries")

    def __str__(self) -> str:
        return f"+{self.quantity} {self.part.sku}"


class PartReservation(models.Model):
    """What one service order holds of one part: reserved, and of that, released or consumed.

    Release and consume act only on what is still held, so repeating them (a new message id
    for the same compensation) changes nothing twice.
    """

    service_order = models.ForeignKey("service_orders.ServiceOrder", on_delete=models.PROTECT,
                                      related_name="part_reservations", verbose_name=_("service order"))
    part = models.ForeignKey(Part, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("part"))
    reserved = models.PositiveIntegerField(_("reserved"), default=0)
    released = models.PositiveIntegerField(_("released"), default=0)
    consumed = models.PositiveIntegerField(_("consumed"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("part reservation")
        verbose_name_plural = _("part reservations")
        constraints = [
            models.UniqueConstraint(fields=("service_order", "part"), name="one_reservation_per_order_part"),
            models.CheckConstraint(condition=Q(reserved__gte=F("released") + F("consumed")),
                                   name="reservation_never_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.part.sku} x{self.held} for {self.service_order_id}"

    @property
    def held(self) -> int:
        return self.reserved - self.released - self.consumed
