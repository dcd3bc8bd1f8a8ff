"""Every route of the product, named."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from reviewer.converters import EventKeyConverter, IdConverter
from reviewer.views import attribution as attribution_views
from reviewer.views import events, files, org, review, search, sessions, sharing, timeline

register_converter(IdConverter, "id")
register_converter(EventKeyConverter, "key")

urlpatterns = [
    path("", sessions.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("org/switch/", sessions.switch_organization, name="org-switch"),
    path("org/settings/", org.org_settings, name="org-settings"),
    path("audit/", org.audit_log, name="audit-log"),
    path("audit/unlock/", org.lift_lockout, name="lift-lockout"),
    path("invitations/", org.invitations, name="invitations"),
    path("sessions/", sessions.session_list, name="session-list"),
    path("sessions/prefetch/", sessions.prefetch_all, name="session-prefetch-all"),
    path("sessions/<id:session_id>/", sessions.session_detail, name="session-detail"),
    path("sessions/<id:session_id>/progress/", sessions.session_progress, name="session-progress"),
    path("sessions/<id:session_id>/prefetch/", sessions.session_prefetch, name="session-prefetch"),
    path("sessions/<id:session_id>/map/", sessions.session_map, name="session-map"),
    path("sessions/<id:session_id>/summary/", sessions.session_summary, name="session-summary"),
    path("sessions/<id:session_id>/timeline/", timeline.session_timeline, name="session-timeline"),
    path("sessions/<id:session_id>/turns/", timeline.session_turns, name="session-turns"),
    path(
        "sessions/<id:session_id>/turns/<key:turn_key>/",
        timeline.session_turn,
        name="session-turn",
    ),
    path("sessions/<id:session_id>/jump/", events.jump, name="session-jump"),
    path(
        "sessions/<id:session_id>/events/<key:event_key>/",
        events.event_detail,
        name="session-event",
    ),
    path(
        "sessions/<id:session_id>/events/<key:event_key>/followups/",
        events.event_followups,
        name="session-event-followups",
    ),
    path("sessions/<id:session_id>/export.json", events.export_json, name="session-export-json"),
    path(
        "sessions/<id:session_id>/export.ndjson",
        events.export_ndjson,
        name="session-export-ndjson",
    ),
    path(
        "sessions/<id:session_id>/attribution/",
        attribution_views.session_attribution,
        name="session-attribution",
    ),
    path("sessions/<id:session_id>/delete/", org.session_delete, name="session-delete"),
    path("sessions/<id:session_id>/files/", files.session_files, name="session-files"),
    path("sessions/<id:session_id>/share/", sharing.session_share, name="session-share"),
    path(
        "sessions/<id:session_id>/share/<int:link_id>/revoke/",
        sharing.share_revoke,
        name="share-revoke",
    ),
    path(
        "assessments/<id:assessment_id>/",
        attribution_views.assessment_cohort,
        name="assessment-cohort",
    ),
    path(
        "assessments/<id:assessment_id>/cohort.csv",
        attribution_views.cohort_csv,
        name="assessment-cohort-csv",
    ),
    path("compare/", attribution_views.compare, name="compare"),
    path("search/", search.org_search, name="org-search"),
    path("shared/<str:token>/", sharing.shared_session, name="shared-session"),
    path("shared/<str:token>/timeline/", sharing.shared_timeline, name="shared-timeline"),
    path("shared/<str:token>/turns/", sharing.shared_turns, name="shared-turns"),
    path("shared/<str:token>/jump/", sharing.shared_jump, name="shared-jump"),
    path("shared/<str:token>/turns/<key:turn_key>/", sharing.shared_turn, name="shared-turn"),
    path("shared/<str:token>/events/<key:event_key>/", sharing.shared_event, name="shared-event"),
    path(
        "shared/<str:token>/events/<key:event_key>/followups/",
        sharing.shared_followups,
        name="shared-event-followups",
    ),
    # Hiring review (issue 15)
    path("sessions/<id:session_id>/notes/", review.note_create, name="review-notes"),
    path(
        "sessions/<id:session_id>/notes/<int:note_id>/edit/",
        review.note_edit,
        name="review-note-edit",
    ),
    path(
        "sessions/<id:session_id>/notes/<int:note_id>/delete/",
        review.note_delete,
        name="review-note-delete",
    ),
    path("sessions/<id:session_id>/scorecard/", review.scorecard, name="review-scorecard"),
    path("sessions/<id:session_id>/decision/", review.decision, name="review-decision"),
    path(
        "sessions/<id:session_id>/decision/sync/",
        review.decision_sync,
        name="review-decision-sync",
    ),
    path("sessions/<id:session_id>/position/", review.position, name="review-position"),
    path("org/settings/review/", review.anonymized_setting, name="review-anonymized"),
    path("admin/", admin.site.urls),
]
