using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.ML.SaPE2.AutoML;

namespace Sape2.Cli.Dashboard;

/// <summary>
/// A web page of a study on 127.0.0.1 only: the page (<see cref="DashboardPage"/>, no outside assets) and <c>/study.json</c>, a snapshot of
/// the study's store read on each request — the same SQLite file or PostgreSQL study the workers write, so it also watches workers on
/// other machines. Serves until disposed.
/// </summary>
internal sealed class DashboardServer : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly HttpListener listener = new();
    private readonly TrialStore store;
    private readonly bool ownsStore;
    private readonly Task serving;

    public DashboardServer(TrialStore store, int port, bool ownsStore)
    {
        (this.store, this.ownsStore) = (store, ownsStore);
        Port = port == 0 ? FreePort() : port;
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException e)
        {
            throw new InvalidOperationException($"The dashboard cannot listen on 127.0.0.1:{Port}: {e.Message}. Pick another --dashboard-port " +
                "(0: any free one).", e);
        }
        serving = Task.Run(Serve);
    }

    public int Port { get; }

    public string Address => $"http://127.0.0.1:{Port}/";

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;   // stopped
            }
            _ = Task.Run(() => Answer(context));
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            (int status, string type, string body) = context.Request.Url!.AbsolutePath switch
            {
                "/" => (200, "text/html; charset=utf-8", DashboardPage.Html),
                "/study.json" => (200, "application/json; charset=utf-8", StudyJson()),
                _ => (404, "text/plain; charset=utf-8", "not found"),
            };
            Write(response, status, type, body);
        }
        catch (Exception e)
        {
            // The store unreachable (a PostgreSQL server restarting) is shown on the page, which keeps polling.
            try { Write(response, 503, "application/json; charset=utf-8", JsonSerializer.Serialize(new { error = e.Message }, Json)); }
            catch (Exception) { }   // the browser went away
        }
    }

    private static void Write(HttpListenerResponse response, int status, string type, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        response.StatusCode = status;
        response.ContentType = type;
        response.Headers["Cache-Control"] = "no-store";
        response.ContentLength64 = bytes.Length;
        response.OutputStream.Write(bytes);
        response.Close();
    }

    /// <summary>The study as the page reads it: its trials with their curves, ASHA's rungs and the knobs' importance.</summary>
    public string StudyJson() => StudyJson(store.Snapshot());

    internal static string StudyJson(StudySnapshot s)
    {
        string? metric = s.Settings.FirstOrDefault(k => k.Key == "metric").Value;
        var knobs = s.Trials.ToDictionary(t => t.Id, t => (IReadOnlyDictionary<string, string>)ParameterImportance.Flatten(t.ParametersJson));
        var curves = s.Epochs.ToLookup(e => e.Trial);
        var importance = ParameterImportance.Of(s.Trials.Where(t => t.Status is "Completed" or "Pruned" && t.Metric is not null)
            .Select(t => (knobs[t.Id], t.Metric!.Value)).ToList());
        return JsonSerializer.Serialize(new
        {
            study = s.Study, source = s.Source, seconds = s.SecondsSinceStart, bestTrial = s.BestTrial, metric = metric ?? "MicroAccuracy",
            settings = s.Settings.Select(k => new { key = k.Key, value = k.Value }),
            trials = s.Trials.Select(t => new
            {
                id = t.Id, status = t.Status, metric = t.Metric, epochs = t.Epochs, plannedEpochs = t.PlannedEpochs, seconds = t.Seconds,
                reason = t.Reason, worker = t.Worker, device = t.Device, rerunOf = t.RerunOf,
                parameters = knobs[t.Id],
                curve = curves[t.Id].Select(e => new { epoch = e.Epoch, metric = e.Metric, loss = e.ValidationLoss }),
            }),
            rungs = s.Rungs.Select(r => new { trial = r.Trial, rung = r.Rung, loss = r.Loss }),
            importance = importance.Select(i => new { knob = i.Knob, share = i.Share }),
        }, Json);
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        try { serving.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        if (ownsStore) store.Dispose();
    }
}
