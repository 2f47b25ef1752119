; Inno Setup 6 script: a per-machine Hearth installer for Windows.
;
; Build (after `pyinstaller --noconfirm --clean packaging\hearth.spec` made dist\hearth):
;   iscc /DAppVersion=0.1.0 packaging\windows\hearth.iss
; gives dist\HearthSetup-<version>.exe.
;
; Silent install for all users (administrator), with a log:
;   HearthSetup-0.1.0.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /LOG="C:\Windows\Temp\hearth-setup.log"
;   add /DIR="D:\Apps\Hearth" to choose the folder, /TASKS="desktopicon" for a desktop icon.
; Silent uninstall:
;   "C:\Program Files\Hearth\unins000.exe" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART
; Users' settings, history and models (%LOCALAPPDATA%\hearth) and the machine policy
; (%PROGRAMDATA%\hearth\policy.toml) are left in place by the uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6F0E7C52-3B7A-4E8B-9C33-7D8E2A4B1F10}
AppName=Hearth
AppVersion={#AppVersion}
AppVerName=Hearth {#AppVersion}
AppPublisher=Hearth
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; `hearth` goes on the system PATH; tell running programs the environment changed.
ChangesEnvironment=yes
OutputDir=..\..\dist
OutputBaseFilename=HearthSetup-{#AppVersion}
SetupIconFile=..\..\resources\icons\hearth.ico
UninstallDisplayIcon={app}\hearthw.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\hearth\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Hearth"; Filename: "{app}\hearthw.exe"; Comment: "Run large language models privately"
Name: "{autodesktop}\Hearth"; Filename: "{app}\hearthw.exe"; Tasks: desktopicon

[Registry]
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; \
    ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
    Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\hearthw.exe"; Description: "{cm:LaunchProgram,Hearth}"; Flags: nowait postinstall skipifsilent

[Code]
const
  EnvKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKLM, EnvKey, 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Paths, Dir: string;
  P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKLM, EnvKey, 'Path', Paths) then
    exit;
  Dir := ExpandConstant('{app}');
  P := Pos(';' + Uppercase(Dir), Uppercase(Paths));
  if P > 0 then
  begin
    Delete(Paths, P, Length(Dir) + 1);
    RegWriteExpandStringValue(HKLM, EnvKey, 'Path', Paths);
  end;
end;
