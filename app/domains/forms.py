"""Forms of the verification wizard.

The forms only carry input: what a valid name, selector or policy is belongs to the service,
so the web form, the API and the CLI refuse the same things with the same words.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from app.domains.service import DEFAULT_SELECTOR, KEY_ALGORITHMS, SetupChoices
from app.errors import AppError

KEY_TYPE_LABELS = {"rsa-2048": "RSA 2048-bit (recommended)",
                   "rsa-3072": "RSA 3072-bit",
                   "rsa-4096": "RSA 4096-bit (some DNS hosts cannot hold keys this long)"}

DMARC_CHOICES = [SelectChoice("none", "none — monitor only"),
                 SelectChoice("quarantine", "quarantine — failing mail goes to spam"),
                 SelectChoice("reject", "reject — failing mail is refused")]


def key_type_field() -> SelectField:
    return SelectField("DKIM key type", default="rsa-2048", validate_choice=False,
                       choices=[SelectChoice(a, KEY_TYPE_LABELS.get(a, a)) for a in KEY_ALGORITHMS])


class AddDomainForm(FlaskForm):
    # No format validators: the service names the exact problem (public suffix, IP, …).
    name = StringField("Domain name", validators=[Length(max=1000)],
                       description="The domain you send from, such as example.com or "
                                   "mail.example.com. International names are fine.")
    algorithm = key_type_field()

    def show_error(self, error: AppError) -> None:
        """Every refusal of "add domain" is about one field: show its full message there."""
        name = next(iter(error.fields), "name")
        field = getattr(self, name, self.name)
        field.errors = [error.message]


class AddSubdomainForm(FlaskForm):
    subdomain = StringField("Subdomain", validators=[Length(max=1000)],
                            description="A label such as marketing, or the full name such as "
                                        "eu.news.example.com.")
    algorithm = key_type_field()

    def show_error(self, error: AppError) -> None:
        field = self.algorithm if "algorithm" in error.fields else self.subdomain
        field.errors = [error.message]


class LabelsForm(FlaskForm):
    """Tags and group, edited one at a time inline; a field left out stays as it is."""

    tags = StringField("Tags", description="Separated by commas, e.g. team-a, eu.")
    group = StringField("Group", validators=[Length(max=1000)],
                        description="One group, such as a team; leave empty for none.")


class SetupForm(FlaskForm):
    selector = StringField("DKIM selector", default=DEFAULT_SELECTOR,
                           validators=[Length(max=63)])
    dmarc_policy = RadioField("DMARC policy to start with", choices=DMARC_CHOICES,
                              default="none", validate_choice=False)
    # An unticked checkbox sends nothing, so a POST without the field means "off".
    use_return_path = BooleanField("Use a custom return-path (bounce) host", default=True)
    use_tracking = BooleanField("Use a branded tracking host", default=False)

    def choices(self) -> SetupChoices:
        return SetupChoices(selector=self.selector.data or "",
                            dmarc_policy=self.dmarc_policy.data or "",
                            use_return_path=self.use_return_path.data,
                            use_tracking=self.use_tracking.data)
